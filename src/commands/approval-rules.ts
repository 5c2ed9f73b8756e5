import { randomUUID } from 'node:crypto';
import { type ApprovalAction, type ApprovalRule, type RulePredicate, approvalRulesDecider, approvalRulesStream } from '../domain/approval-rules.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import type { AggregateCache } from './aggregate-cache.js';

// Through the aggregate cache, like the allowlist: a rule set's stream grows with every change.

export async function addApprovalRule(
  aggregates: AggregateCache,
  input: { companyId: string; predicate: RulePredicate; action: ApprovalAction; priority: number },
  actor: Actor,
  now: Date,
) {
  const ruleId = randomUUID();
  const r = await aggregates.handle(
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'AddApprovalRule', ruleId, ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { id: ruleId, position: r.position };
}

export async function updateApprovalRule(
  aggregates: AggregateCache,
  input: { companyId: string; ruleId: string; changes: Partial<Pick<ApprovalRule, 'predicate' | 'action' | 'priority'>> },
  actor: Actor,
  now: Date,
) {
  const r = await aggregates.handle(
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'UpdateApprovalRule', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}

export async function deleteApprovalRule(aggregates: AggregateCache, input: { companyId: string; ruleId: string }, actor: Actor, now: Date) {
  const r = await aggregates.handle(
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'DeleteApprovalRule', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}

export async function loadApprovalRules(aggregates: AggregateCache, companyId: string) {
  return (await aggregates.load([{ streamName: approvalRulesStream(companyId), decider: approvalRulesDecider }] as const))[0];
}
