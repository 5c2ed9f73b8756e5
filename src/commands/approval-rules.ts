import { randomUUID } from 'node:crypto';
import { type ApprovalAction, type ApprovalRule, type RulePredicate, approvalRulesDecider, approvalRulesStream } from '../domain/approval-rules.js';
import type { EventStore } from '../eventstore/port.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { handleCommand, loadAggregate } from './handle-command.js';

export async function addApprovalRule(
  store: EventStore,
  input: { companyId: string; predicate: RulePredicate; action: ApprovalAction; priority: number },
  actor: Actor,
  now: Date,
) {
  const ruleId = randomUUID();
  const r = await handleCommand(
    store,
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'AddApprovalRule', ruleId, ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { id: ruleId, position: r.position };
}

export async function updateApprovalRule(
  store: EventStore,
  input: { companyId: string; ruleId: string; changes: Partial<Pick<ApprovalRule, 'predicate' | 'action' | 'priority'>> },
  actor: Actor,
  now: Date,
) {
  const r = await handleCommand(
    store,
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'UpdateApprovalRule', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}

export async function deleteApprovalRule(store: EventStore, input: { companyId: string; ruleId: string }, actor: Actor, now: Date) {
  const r = await handleCommand(
    store,
    approvalRulesStream(input.companyId),
    approvalRulesDecider,
    { type: 'DeleteApprovalRule', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}

export async function loadApprovalRules(store: EventStore, companyId: string) {
  return (await loadAggregate(store, approvalRulesStream(companyId), approvalRulesDecider)).state;
}
