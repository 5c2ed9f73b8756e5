import type { SendChannel } from './channels.js';
import { changedFields } from './changes.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';
import { inTimeWindow } from './time-window.js';

/** One rule set per company: rules are evaluated together, in priority order. */
export const approvalRulesStream = (companyId: string) => `crm_approval_rules-${companyId}`;

/** Rules one company may have: every send that is not a dry run evaluates them all, in order. */
export const MAX_APPROVAL_RULES = 200;

export type ApprovalAction = 'auto_approve' | 'queue_for_manual';

/**
 * `any: true` is the only way to say "every send": a rule that auto-approves everything must be written as such.
 * Rules stored as `{}` before that was refused still match every send when folded (their meaning when made).
 */
export interface RulePredicate {
  any?: true;
  channel?: SendChannel;
  niche?: string;
  tags?: string[];
  timeOfDay?: { start: string; end: string; tz: string };
}

export interface ApprovalRule {
  ruleId: string;
  predicate: RulePredicate;
  action: ApprovalAction;
  priority: number;
  /** Creation order: ties of priority go to the oldest rule. */
  seq: number;
  createdAt: string;
}

export type ApprovalRulesCommand =
  | {
      type: 'AddApprovalRule';
      companyId: string;
      ruleId: string;
      predicate: RulePredicate;
      action: ApprovalAction;
      priority: number;
      actor: string;
      now: string;
    }
  | {
      type: 'UpdateApprovalRule';
      companyId: string;
      ruleId: string;
      changes: Partial<Pick<ApprovalRule, 'predicate' | 'action' | 'priority'>>;
      actor: string;
      now: string;
    }
  | { type: 'DeleteApprovalRule'; companyId: string; ruleId: string; actor: string; now: string };

export type ApprovalRulesEvent =
  | DomainEvent<'ApprovalRuleAdded', { companyId: string; rule: ApprovalRule; addedBy: string }>
  | DomainEvent<
      'ApprovalRuleUpdated',
      {
        companyId: string;
        ruleId: string;
        changes: Partial<Pick<ApprovalRule, 'predicate' | 'action' | 'priority'>>;
        updatedBy: string;
        updatedAt: string;
      }
    >
  | DomainEvent<'ApprovalRuleDeleted', { companyId: string; ruleId: string; deletedBy: string; deletedAt: string }>;

/** Why a new or changed predicate is refused, or null: it must constrain something, or be `{any: true}` alone. */
export function predicateProblem(p: RulePredicate): string | null {
  const constrains =
    p.channel !== undefined || p.niche !== undefined || (p.tags !== undefined && p.tags.length > 0) || p.timeOfDay !== undefined;
  if (p.any === true) return constrains ? 'predicate: any cannot be combined with other fields' : null;
  return constrains ? null : 'predicate must constrain the send (channel, niche, tags, timeOfDay), or be {"any": true} to match every send';
}

function assertPredicate(p: RulePredicate | undefined) {
  const problem = p === undefined ? null : predicateProblem(p);
  if (problem) throw new DomainError('invalid_input', problem);
}

export type ApprovalRulesState = { rules: Map<string, ApprovalRule>; nextSeq: number };

function evolveMany(state: ApprovalRulesState, events: readonly ApprovalRulesEvent[]): ApprovalRulesState {
  const rules = new Map(state.rules);
  let nextSeq = state.nextSeq;
  for (const event of events) {
    switch (event.type) {
      case 'ApprovalRuleAdded':
        rules.set(event.data.rule.ruleId, event.data.rule);
        nextSeq = Math.max(nextSeq, event.data.rule.seq + 1);
        break;
      case 'ApprovalRuleUpdated': {
        const r = rules.get(event.data.ruleId);
        if (r) rules.set(r.ruleId, { ...r, ...event.data.changes });
        break;
      }
      case 'ApprovalRuleDeleted':
        rules.delete(event.data.ruleId);
        break;
    }
  }
  return { rules, nextSeq };
}

export const approvalRulesDecider: Decider<ApprovalRulesCommand, ApprovalRulesState, ApprovalRulesEvent> = {
  initialState: () => ({ rules: new Map(), nextSeq: 1 }),
  evolve: (state, event) => evolveMany(state, [event]),
  evolveMany,
  decide(command, state) {
    switch (command.type) {
      case 'AddApprovalRule':
        if (state.rules.has(command.ruleId)) throw new DomainError('conflict', 'rule id already used');
        assertPredicate(command.predicate ?? {});
        if (state.rules.size >= MAX_APPROVAL_RULES) {
          throw new DomainError('invalid_state', `a company may have ${MAX_APPROVAL_RULES} approval rules; delete some first`, {
            limit: MAX_APPROVAL_RULES,
          });
        }
        return [
          {
            type: 'ApprovalRuleAdded',
            data: {
              companyId: command.companyId,
              rule: {
                ruleId: command.ruleId,
                predicate: command.predicate,
                action: command.action,
                priority: command.priority,
                seq: state.nextSeq,
                createdAt: command.now,
              },
              addedBy: command.actor,
            },
          },
        ];
      case 'UpdateApprovalRule': {
        const rule = state.rules.get(command.ruleId);
        if (!rule) throw new DomainError('not_found', 'approval rule not found');
        assertPredicate(command.changes.predicate);
        const changes = changedFields(rule, command.changes);
        if (Object.keys(changes).length === 0) return [];
        return [
          {
            type: 'ApprovalRuleUpdated',
            data: { companyId: command.companyId, ruleId: command.ruleId, changes, updatedBy: command.actor, updatedAt: command.now },
          },
        ];
      }
      case 'DeleteApprovalRule':
        if (!state.rules.has(command.ruleId)) throw new DomainError('not_found', 'approval rule not found');
        return [
          {
            type: 'ApprovalRuleDeleted',
            data: { companyId: command.companyId, ruleId: command.ruleId, deletedBy: command.actor, deletedAt: command.now },
          },
        ];
    }
  },
};

export interface SendFacts {
  channel: SendChannel;
  niche: string | null;
  tags: string[];
  at: Date;
}

/** Every field the predicate gives must match; absent fields match anything. */
export function ruleMatches(predicate: RulePredicate, send: SendFacts): boolean {
  if (predicate.channel !== undefined && predicate.channel !== send.channel) return false;
  if (predicate.niche !== undefined && predicate.niche !== send.niche) return false;
  if (predicate.tags !== undefined && !predicate.tags.every((t) => send.tags.includes(t))) return false;
  if (predicate.timeOfDay !== undefined && !inTimeWindow(send.at, predicate.timeOfDay)) return false;
  return true;
}

/** Evaluation order: ascending priority, ties oldest first. */
export function orderedRules(rules: Iterable<ApprovalRule>): ApprovalRule[] {
  return [...rules].sort((a, b) => a.priority - b.priority || a.seq - b.seq);
}

/** First match wins; no match queues for a human. */
export function evaluateRules(rules: Iterable<ApprovalRule>, send: SendFacts): { rule: ApprovalRule | null; action: ApprovalAction } {
  for (const rule of orderedRules(rules)) if (ruleMatches(rule.predicate, send)) return { rule, action: rule.action };
  return { rule: null, action: 'queue_for_manual' };
}
