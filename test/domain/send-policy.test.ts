import { describe, expect, it } from 'vitest';
import type { ActivityError } from '../../src/domain/activity.js';
import type { AllowlistEntry, AllowlistState } from '../../src/domain/allowlist.js';
import type { ApprovalRule, ApprovalRulesState } from '../../src/domain/approval-rules.js';
import {
  type SendDecision,
  type SendPolicyFacts,
  type SendPolicyRequest,
  afterReservation,
  decideSend,
} from '../../src/domain/send-policy.js';
import type { SuppressionState } from '../../src/domain/suppression.js';

const NOW = new Date('2026-12-02T23:30:00.000Z');
const ISO = NOW.toISOString();
const TO = 'ana@example.org';

const entry = (pattern: string, channel: AllowlistEntry['channel'] = null): AllowlistEntry => ({
  entryId: `e-${pattern}`,
  pattern,
  channel,
  note: null,
  createdAt: ISO,
  createdBy: 'board:u',
});
const allowlist = (...entries: AllowlistEntry[]): AllowlistState => ({ entries: new Map(entries.map((e) => [e.entryId, e])) });
const rule = (over: Partial<ApprovalRule>): ApprovalRule => ({
  ruleId: 'r1',
  predicate: { any: true } as ApprovalRule['predicate'],
  action: 'auto_approve',
  priority: 1,
  seq: 1,
  createdAt: ISO,
  ...over,
});
const rules = (...rs: ApprovalRule[]): ApprovalRulesState => ({ rules: new Map(rs.map((r) => [r.ruleId, r])), nextSeq: rs.length + 1 });
const suppressed = (channel: 'email' | null): SuppressionState => ({
  active: {
    suppressionId: 's1',
    companyId: 'c1',
    recipient: TO,
    channel,
    source: 'manual',
    reason: 'manual',
    createdAt: ISO,
    createdBy: 'board:u',
  },
  causes: [],
});
const notSuppressed: SuppressionState = { active: null, causes: [] };

const REQUEST: SendPolicyRequest = {
  channel: 'email',
  dryRun: false,
  keys: [TO],
  niche: null,
  tags: [],
  approvedByPerson: false,
  needsPerson: false,
  approvalId: 'ap-1',
  quota: { companyId: 'c1', credentialId: 'k1', dailyCap: 10, timezone: 'Europe/Berlin' },
  now: NOW,
};
const FACTS: SendPolicyFacts = {
  allowlist: allowlist(entry('*@example.org')),
  suppressions: [notSuppressed],
  rules: rules(rule({})),
  unresolved: null,
  windowClosed: null,
};

/** Given facts, when a send is requested, then a decision: the policy's spec, with no I/O. */
const given = (facts: Partial<SendPolicyFacts> = {}) => ({
  when: (request: Partial<SendPolicyRequest> = {}) => ({
    then: (expected: ReturnType<typeof decideSend>) =>
      expect(decideSend({ ...REQUEST, ...request }, { ...FACTS, ...facts })).toEqual(expected),
  }),
});

// The quota bucket is the outbox's local day: 23:30 UTC is already the 3rd in Berlin.
const RESERVE: SendDecision['next'] & { kind: 'reserve' } = {
  kind: 'reserve',
  bucket: { companyId: 'c1', credentialId: 'k1', day: '2026-12-03' },
  cap: 10,
  limits: { limits: [], recipient: TO, tz: 'Europe/Berlin' },
};
const BY_RULE = { ...RESERVE, approvedByRule: 'r1' };
const NONE = { kind: 'none' } as const;
const closed: ActivityError = { code: 'whatsapp_window_closed', message: 'closed' };
const unresolved: ActivityError = { code: 'linkedin_recipient_unresolved', message: 'unknown' };

describe('decideSend: the send policy', () => {
  it('an allowed, unsuppressed recipient and an auto-approving rule: a unit of the day in the outbox timezone, approved by the rule', () => {
    // The approval is recorded with what the reservation leads to (afterReservation), not as a step before it.
    given().when().then({ commands: [], next: BY_RULE });
  });

  it('outside the allowlist, suppressed, or no recipient at all: blocked, whatever the rules say', () => {
    const blocked = (reason: string) => ({
      commands: [{ type: 'BlockActivity' as const, status: 'blocked_by_allowlist' as const, reason, now: ISO }],
      next: NONE,
    });
    given({ allowlist: allowlist(entry('*@elsewhere.example')) })
      .when()
      .then(blocked('not_allowlisted'));
    given({ allowlist: allowlist(entry('*', 'whatsapp')) })
      .when()
      .then(blocked('not_allowlisted'));
    given({ suppressions: [notSuppressed, suppressed(null)] })
      .when()
      .then(blocked('suppressed'));
    given({ suppressions: [suppressed('email')] })
      .when()
      .then(blocked('suppressed'));
    given().when({ keys: [] }).then(blocked('invalid_recipient'));
    // Allowed under any of its names (as a LinkedIn member is under its id and its profile URL).
    given({ allowlist: allowlist(entry(TO)) })
      .when({ keys: ['other-name@example.net', TO] })
      .then({ commands: [], next: { ...BY_RULE, limits: { ...RESERVE.limits, recipient: 'other-name@example.net' } } });
  });

  it('a recipient the provider cannot name fails before any check and spends no unit', () => {
    given({ unresolved, allowlist: allowlist() })
      .when()
      .then({ commands: [{ type: 'RecordFailed', error: unresolved, quotaRefunded: false, now: ISO }], next: NONE });
  });

  it('a dry run: checked against the allowlist, then sent dry without rules or quota', () => {
    given({ rules: rules() })
      .when({ dryRun: true })
      .then({ commands: [{ type: 'SendDryRun', now: ISO }], next: NONE });
    given({ allowlist: allowlist() })
      .when({ dryRun: true })
      .then({ commands: [{ type: 'BlockActivity', status: 'blocked_by_allowlist', reason: 'not_allowlisted', now: ISO }], next: NONE });
  });

  it('no rule matches, a rule queues, or the channel needs a person for an agent: it waits for an approval', () => {
    const queued = (ruleId: string | null) => ({
      commands: [{ type: 'QueueForApproval' as const, approvalId: 'ap-1', ruleId, now: ISO }],
      next: { kind: 'approval' as const, approvalId: 'ap-1', ruleId },
    });
    given({ rules: rules() }).when().then(queued(null));
    given({ rules: rules(rule({ action: 'queue_for_manual', predicate: { tags: ['vip'] } }), rule({ ruleId: 'r2', priority: 2 })) })
      .when({ tags: ['vip'] })
      .then(queued('r1'));
    given({ rules: rules(rule({ predicate: { niche: 'dentists' } })) })
      .when({ niche: 'plumbers' })
      .then(queued(null));
    given().when({ needsPerson: true }).then(queued('r1'));
  });

  it('the first matching rule by priority decides', () => {
    const r = rules(rule({ ruleId: 'late', priority: 5, action: 'queue_for_manual' }), rule({ ruleId: 'early', priority: 1, seq: 2 }));
    given({ rules: r })
      .when()
      .then({ commands: [], next: { ...RESERVE, approvedByRule: 'early' } });
  });

  it('a closed messaging window fails after the approval and before the quota', () => {
    given({ windowClosed: closed })
      .when()
      .then({
        commands: [
          { type: 'ApproveActivity', approvalId: null, ruleId: 'r1', by: 'rule', now: ISO },
          { type: 'RecordFailed', error: closed, quotaRefunded: false, now: ISO },
        ],
        next: NONE,
      });
  });

  it('approved by a person: the rules are not asked again, the rest is checked as it is now', () => {
    given({ rules: rules() }).when({ approvedByPerson: true }).then({ commands: [], next: RESERVE });
    given({ suppressions: [suppressed(null)] })
      .when({ approvedByPerson: true })
      .then({ commands: [{ type: 'BlockActivity', status: 'blocked_by_allowlist', reason: 'suppressed', now: ISO }], next: NONE });
    given({ windowClosed: closed })
      .when({ approvedByPerson: true })
      .then({ commands: [{ type: 'RecordFailed', error: closed, quotaRefunded: false, now: ISO }], next: NONE });
  });
});

describe('afterReservation', () => {
  const claim = { bucket: RESERVE.bucket, cap: 10, limits: RESERVE.limits };
  const byRule = { ...claim, approvedByRule: 'r1' };
  const approved = { type: 'ApproveActivity', approvalId: null, ruleId: 'r1', by: 'rule', now: ISO } as const;
  const dispatch = {
    type: 'StartDispatch',
    bucket: 'k1.2026-12-03',
    credentialId: 'k1',
    day: '2026-12-03',
    leaseUntil: new Date(NOW.getTime() + 60_000).toISOString(),
    now: ISO,
  } as const;
  const capReached = { type: 'BlockActivity', status: 'blocked_by_quota', reason: 'daily_cap_reached', now: ISO } as const;

  it('a unit: the dispatch starts, leased for leaseMs; none: blocked by the quota', () => {
    expect(afterReservation(claim, { reserved: true, day: '2026-12-03', refusal: null }, NOW, 60_000)).toEqual([dispatch]);
    expect(afterReservation(claim, { reserved: false, day: '2026-12-03', refusal: null }, NOW, 60_000)).toEqual([capReached]);
  });

  it('approved by a rule just now: the dispatch carries the approval (one event), a block follows it as a step of its own', () => {
    expect(afterReservation(byRule, { reserved: true, day: '2026-12-03', refusal: null }, NOW, 60_000)).toEqual([
      { ...dispatch, approvedByRule: 'r1' },
    ]);
    expect(afterReservation(byRule, { reserved: false, day: '2026-12-03', refusal: null }, NOW, 60_000)).toEqual([approved, capReached]);
  });

  it('a unit taken on the next day (the claimed one was closed): the dispatch names the day it was taken on', () => {
    expect(afterReservation(claim, { reserved: true, day: '2026-12-04', refusal: null }, NOW, 60_000)).toMatchObject([
      { type: 'StartDispatch', bucket: 'k1.2026-12-04', day: '2026-12-04' },
    ]);
  });

  it('refused by a limit: blocked, naming the limit and when it reopens (the day cap keeps its own reason)', () => {
    const retryAt = new Date('2026-12-05T10:00:00.000Z');
    const week = { max: 100, per: '7d', unit: 'sends' } as const;
    expect(afterReservation(claim, { reserved: false, day: '2026-12-03', refusal: { limit: week, retryAt } }, NOW, 60_000)).toEqual([
      {
        type: 'BlockActivity',
        status: 'blocked_by_quota',
        reason: 'quota_limit_reached',
        quota: { limit: week, retryAt: retryAt.toISOString() },
        now: ISO,
      },
    ]);
    const day = { max: 10, per: 'day', unit: 'sends' } as const;
    expect(afterReservation(claim, { reserved: false, day: '2026-12-03', refusal: { limit: day, retryAt } }, NOW, 60_000)).toMatchObject([
      { reason: 'daily_cap_reached', quota: { limit: day } },
    ]);
  });

  it('the reservation counts the outbox limits with its channel defaults, for the recipient first key', () => {
    given({ allowlist: allowlist(entry('*')) })
      .when({
        channel: 'linkedin',
        keys: ['linkedin:ana', 'x'],
        quota: { ...REQUEST.quota, limits: [{ max: 5, per: 'hour', unit: 'sends' }] },
      })
      .then({
        commands: [],
        next: {
          ...BY_RULE,
          limits: {
            limits: [
              { max: 5, per: 'hour', unit: 'sends' },
              { max: 100, per: '7d', unit: 'sends' },
            ],
            recipient: 'linkedin:ana',
            tz: 'Europe/Berlin',
          },
        },
      });
  });
});
