import { randomUUID } from 'node:crypto';
import {
  type ApprovalAction,
  type ApprovalRule,
  type RulePredicate,
  approvalRulesDecider,
  approvalRulesStream,
} from '../domain/approval-rules.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import type { AggregateCache } from './aggregate-cache.js';

// Through the aggregate cache, like the allowlist: a rule set's stream grows with every change.
const rules = commandHandlerFor(approvalRulesDecider, approvalRulesStream);

export async function addApprovalRule(
  aggregates: AggregateCache,
  input: { companyId: string; predicate: RulePredicate; action: ApprovalAction; priority: number },
  actor: Actor,
  now: Date,
) {
  const ruleId = randomUUID();
  const r = await rules(aggregates, input.companyId, { actor, now }, (s) => ({
    type: 'AddApprovalRule',
    ruleId,
    ...input,
    actor: s.by,
    now: s.now,
  }));
  return { id: ruleId, position: r.position };
}

type RuleChanges = Partial<Pick<ApprovalRule, 'predicate' | 'action' | 'priority'>>;

export const updateApprovalRule = (
  aggregates: AggregateCache,
  input: { companyId: string; ruleId: string; changes: RuleChanges },
  actor: Actor,
  now: Date,
) => rules(aggregates, input.companyId, { actor, now }, (s) => ({ type: 'UpdateApprovalRule', ...input, actor: s.by, now: s.now }));

export const deleteApprovalRule = (aggregates: AggregateCache, input: { companyId: string; ruleId: string }, actor: Actor, now: Date) =>
  rules(aggregates, input.companyId, { actor, now }, (s) => ({ type: 'DeleteApprovalRule', ...input, actor: s.by, now: s.now }));

export async function loadApprovalRules(aggregates: AggregateCache, companyId: string) {
  return (await aggregates.load([{ streamName: approvalRulesStream(companyId), decider: approvalRulesDecider }] as const))[0];
}
