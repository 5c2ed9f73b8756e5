import type { ActivityCommand, ActivityError } from './activity.js';
import { type AllowlistState, allowedBy } from './allowlist.js';
import { type ApprovalRulesState, evaluateRules } from './approval-rules.js';
import type { OutboxChannel } from './channels.js';
import { type SuppressionState, suppressedBy } from './suppression.js';
import { type LimitRefusal, type QuotaLimit, effectiveLimits } from './quota-limits.js';
import { localDay } from './time-window.js';

/**
 * The send policy: whether a send may go, and what it needs first, decided on facts read beforehand. Every send
 * goes through it twice at most: when requested (allowlist, suppressions, dry run, approval rules, window, which
 * quota) and, if a person had to approve it, again when they do (the same checks but the rules, since the
 * entry that allowed the recipient may be gone, the recipient may have unsubscribed, the window may have closed).
 * Pure: no I/O, no clock.
 */
export interface SendPolicyRequest {
  /** The channel the outbox sends on. */
  channel: OutboxChannel;
  /** A dry run reaches no provider and spends no unit; it is still checked against the allowlist. */
  dryRun: boolean;
  /** Every name of the recipient (`recipientKeys`): allowed under one, suppressed under none. None: no recipient. */
  keys: readonly string[];
  niche: string | null;
  tags: readonly string[];
  /** Approved by a person already (the second pass): the rules are not asked again. */
  approvedByPerson: boolean;
  /** The channel reserves the message for a person (Meta's human-agent tag) and an agent asked: a person must approve. */
  needsPerson: boolean;
  /** The id a new approval takes, when the send must wait for one (made by the caller: ids are not the policy's). */
  approvalId: string;
  /**
   * The outbox's quota: one unit a day per credential, counted on the outbox's local day, within its daily cap
   * and its limits (with its channel's defaults: `effectiveLimits`).
   */
  quota: { companyId: string; credentialId: string; dailyCap: number; timezone: string; limits?: readonly QuotaLimit[] };
  now: Date;
}

export interface SendPolicyFacts {
  allowlist: AllowlistState;
  /** The suppression streams of the recipient's keys on the channel (`suppressionStreamsFor`). */
  suppressions: readonly SuppressionState[];
  rules: ApprovalRulesState;
  /** Why the provider could not say who the recipient is (`resolveRecipient`), or null. */
  unresolved: ActivityError | null;
  /** Why the recipient's messaging window is closed (WhatsApp, Instagram), or null. */
  windowClosed: ActivityError | null;
}

export interface QuotaClaim {
  bucket: { companyId: string; credentialId: string; day: string };
  /**
   * The rule that approves the send, when the rules were asked now: its approval is recorded with what the
   * reservation leads to (`afterReservation`), in the same append, as part of the dispatch's start.
   */
  approvedByRule?: string;
  cap: number;
  /** The outbox's limits, the recipient they count (its first key, canonical) and the zone its periods are in. */
  limits: { limits: QuotaLimit[]; recipient: string; tz: string };
}

export interface SendDecision {
  /** The activity commands decided now, in order (after the request, on the first pass). */
  commands: ActivityCommand[];
  /** What must happen before the message goes: a person's approval, a quota unit, or nothing more. */
  next: { kind: 'none' } | { kind: 'approval'; approvalId: string; ruleId: string | null } | ({ kind: 'reserve' } & QuotaClaim);
}

const NONE = { kind: 'none' } as const;

/** Why the recipient may not be contacted at all: no recipient, outside the allowlist, or suppressed. */
export function recipientRefusal(
  facts: Pick<SendPolicyFacts, 'allowlist' | 'suppressions'>,
  keys: readonly string[],
  channel: OutboxChannel,
): string | null {
  if (keys.length === 0) return 'invalid_recipient';
  if (!allowedBy(facts.allowlist.entries.values(), keys, channel)) return 'not_allowlisted';
  return suppressedBy(facts.suppressions, channel) ? 'suppressed' : null;
}

export function decideSend(request: SendPolicyRequest, facts: SendPolicyFacts): SendDecision {
  const now = request.now.toISOString();
  // The provider does not know the recipient (or could not say): nothing was sent, no unit spent.
  if (facts.unresolved) return { commands: [{ type: 'RecordFailed', error: facts.unresolved, quotaRefunded: false, now }], next: NONE };
  const refused = recipientRefusal(facts, request.keys, request.channel);
  if (refused) return { commands: [{ type: 'BlockActivity', status: 'blocked_by_allowlist', reason: refused, now }], next: NONE };
  if (request.dryRun) return { commands: [{ type: 'SendDryRun', now }], next: NONE };
  let approvedByRule: string | undefined;
  if (!request.approvedByPerson) {
    const decision = evaluateRules(facts.rules.rules.values(), {
      channel: request.channel,
      niche: request.niche,
      tags: [...request.tags],
      at: request.now,
    });
    if (decision.action === 'queue_for_manual' || request.needsPerson) {
      const ruleId = decision.rule?.ruleId ?? null;
      return {
        commands: [{ type: 'QueueForApproval', approvalId: request.approvalId, ruleId, now }],
        next: { kind: 'approval', approvalId: request.approvalId, ruleId },
      };
    }
    approvedByRule = decision.rule!.ruleId;
  }
  // Before any quota: a message the provider would refuse (closed messaging window) must not spend a unit.
  if (facts.windowClosed)
    return {
      commands: [...ruleApproval(approvedByRule, now), { type: 'RecordFailed', error: facts.windowClosed, quotaRefunded: false, now }],
      next: NONE,
    };
  const { companyId, credentialId, dailyCap, timezone } = request.quota;
  return {
    commands: [],
    next: {
      kind: 'reserve',
      bucket: { companyId, credentialId, day: localDay(request.now, timezone) },
      ...(approvedByRule !== undefined ? { approvedByRule } : {}),
      cap: dailyCap,
      limits: { limits: effectiveLimits(request.channel, request.quota.limits), recipient: request.keys[0]!, tz: timezone },
    },
  };
}

/** The rule's approval as a step of its own (when no dispatch starts to carry it). */
const ruleApproval = (ruleId: string | undefined, now: string): ActivityCommand[] =>
  ruleId === undefined ? [] : [{ type: 'ApproveActivity', approvalId: null, ruleId, by: 'rule', now }];

/** How a reservation ended: taken on `day` (the claim's, or a later one when that day was closed), or refused. */
export interface Reservation {
  reserved: boolean;
  day: string;
  /** The limit that refused it and when it reopens (null: not known, e.g. no limits and no zone). */
  refusal: LimitRefusal | null;
}

/**
 * The steps a quota reservation leads to: the dispatch starts with a lease on the day the unit was taken (and
 * records the rule's approval, when a rule approved it now: one event for both), or the send is approved by its
 * rule and blocked by the quota, naming the limit that refused it and when that limit reopens.
 */
export function afterReservation(claim: QuotaClaim, r: Reservation, now: Date, leaseMs: number): ActivityCommand[] {
  const iso = now.toISOString();
  if (!r.reserved) {
    const quota = r.refusal ? { limit: r.refusal.limit, retryAt: r.refusal.retryAt.toISOString() } : undefined;
    const daily = !r.refusal || (r.refusal.limit.per === 'day' && r.refusal.limit.unit === 'sends');
    return [
      ...ruleApproval(claim.approvedByRule, iso),
      {
        type: 'BlockActivity',
        status: 'blocked_by_quota',
        reason: daily ? 'daily_cap_reached' : 'quota_limit_reached',
        ...(quota ? { quota } : {}),
        now: iso,
      },
    ];
  }
  const { credentialId } = claim.bucket;
  const { day } = r;
  return [
    {
      type: 'StartDispatch',
      bucket: `${credentialId}.${day}`,
      credentialId,
      day,
      leaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
      now: iso,
      ...(claim.approvedByRule !== undefined ? { approvedByRule: claim.approvedByRule } : {}),
    },
  ];
}
