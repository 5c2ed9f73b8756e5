import { describe, expect, it } from 'vitest';
import {
  type ApprovalRule,
  type ApprovalRulesCommand,
  type ApprovalRulesEvent,
  approvalRulesDecider,
  evaluateRules,
} from '../../src/domain/approval-rules.js';
import { fold } from '../../src/domain/decider.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-12-02T10:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';
const ruleId = '6f1f3c1e-0000-4000-8000-0000000000a1';
const add = (predicate: Record<string, unknown>): ApprovalRulesCommand =>
  ({
    type: 'AddApprovalRule',
    companyId,
    ruleId,
    predicate,
    action: 'auto_approve',
    priority: 10,
    actor: 'board:u',
    now,
  }) as ApprovalRulesCommand;
const rule = (predicate: Record<string, unknown>): ApprovalRule =>
  ({ ruleId, predicate, action: 'auto_approve', priority: 10, seq: 1, createdAt: now }) as ApprovalRule;
const added = (predicate: Record<string, unknown>): ApprovalRulesEvent => ({
  type: 'ApprovalRuleAdded',
  data: { companyId, rule: rule(predicate), addedBy: 'board:u' },
});
const update = (predicate: Record<string, unknown>): ApprovalRulesCommand =>
  ({ type: 'UpdateApprovalRule', companyId, ruleId, changes: { predicate }, actor: 'board:u', now }) as ApprovalRulesCommand;
const send = { channel: 'email' as const, niche: 'solar', tags: ['x'], at: new Date(now) };

describe('approval rules decider: a rule that matches every send must say so', () => {
  const s = spec(approvalRulesDecider);

  it('refuses a rule with an empty predicate, or one whose only field constrains nothing', () => {
    s.given([]).when(add({})).thenThrows('invalid_input');
    s.given([])
      .when(add({ tags: [] }))
      .thenThrows('invalid_input');
  });

  it('takes an explicit match-everything predicate, alone', () => {
    s.given([])
      .when(add({ any: true }))
      .then([added({ any: true })]);
    s.given([])
      .when(add({ any: true, channel: 'email' }))
      .thenThrows('invalid_input');
  });

  it('takes a predicate that constrains something', () => {
    s.given([])
      .when(add({ channel: 'email' }))
      .then([added({ channel: 'email' })]);
  });

  it('refuses a change to an empty predicate, as it refuses adding one', () => {
    s.given([added({ channel: 'email' })])
      .when(update({}))
      .thenThrows('invalid_input');
    s.given([added({ channel: 'email' })])
      .when(update({ any: true }))
      .then([
        {
          type: 'ApprovalRuleUpdated',
          data: { companyId, ruleId, changes: { predicate: { any: true } }, updatedBy: 'board:u', updatedAt: now },
        },
      ]);
  });

  it('still folds a stored {} rule (written before the refusal) and keeps its meaning: it matches every send', () => {
    const state = fold(approvalRulesDecider, [added({})]);
    expect(state.rules.get(ruleId)?.predicate).toEqual({});
    expect(evaluateRules(state.rules.values(), send)).toMatchObject({ rule: { ruleId }, action: 'auto_approve' });
    // Such a rule can still be changed to a real predicate, or deleted.
    s.given([added({})])
      .when(update({ niche: 'solar' }))
      .then([
        {
          type: 'ApprovalRuleUpdated',
          data: { companyId, ruleId, changes: { predicate: { niche: 'solar' } }, updatedBy: 'board:u', updatedAt: now },
        },
      ]);
  });

  it('an explicit any rule matches every send', () => {
    const state = fold(approvalRulesDecider, [added({ any: true })]);
    expect(evaluateRules(state.rules.values(), send).action).toBe('auto_approve');
    expect(evaluateRules(state.rules.values(), { ...send, channel: 'linkedin', niche: null, tags: [] }).action).toBe('auto_approve');
  });
});
