import { describe, expect, it } from 'vitest';
import { type ActivityCommand, type ActivityEvent, type ActivityStatus, activityDecider } from '../../src/domain/activity.js';
import { fold } from '../../src/domain/decider.js';
import { activityRequest } from '../support/activity-fixtures.js';
import { spec } from '../support/decider-spec.js';

// The way of one send from request to outcome. Resends are test/domain/activity-resend.test.ts; the names a
// provider gives a send (recipient aliases, a booking's new id) are test/domain/activity-provider-names.test.ts.

const id = '3d9a7b2c-4e5f-4a6b-9c8d-7e6f5a4b3c2d';
const t0 = '2026-12-02T10:00:00.000Z';
const t1 = '2026-12-02T10:00:01.000Z';
const t2 = '2026-12-02T10:00:02.000Z';
const t3 = '2026-12-02T10:00:03.000Z';
const request = activityRequest({
  activityId: id,
  contentPieceId: 'cp1',
  niche: 'solar',
  tags: ['warm'],
  clientDedupKey: 'k1',
  requestedAt: t0,
});

const requested: ActivityEvent = { type: 'ActivityRequested', data: { ...request } };
const approvedByRule: ActivityEvent = {
  type: 'ActivityApproved',
  data: { activityId: id, approvalId: null, ruleId: 'r1', by: 'rule', at: t1 },
};
const queued: ActivityEvent = { type: 'ActivityQueuedForApproval', data: { activityId: id, approvalId: 'a1', ruleId: 'r2', at: t1 } };
const approvedByPerson: ActivityEvent = {
  type: 'ActivityApproved',
  data: { activityId: id, approvalId: 'a1', ruleId: null, by: 'board:u', at: t2 },
};
const rejected: ActivityEvent = {
  type: 'ActivityRejected',
  data: { activityId: id, approvalId: 'a1', by: 'board:u', reason: 'off brand', at: t2 },
};
const dispatching: ActivityEvent = {
  type: 'ActivityDispatching',
  data: {
    activityId: id,
    bucket: 'cred.2026-12-02',
    credentialId: 'cred',
    day: '2026-12-02',
    leaseUntil: '2026-12-02T10:05:02.000Z',
    at: t2,
  },
};
const sent: ActivityEvent = { type: 'ActivitySent', data: { activityId: id, providerMessageId: 'm1', at: t3 } };
const failed: ActivityEvent = {
  type: 'ActivityFailed',
  data: { activityId: id, error: { code: 'smtp_550', message: 'mailbox unavailable' }, quotaRefunded: false, at: t3 },
};
const dryRun: ActivityEvent = { type: 'ActivitySentDryRun', data: { activityId: id, at: t1 } };
const blockedByAllowlist: ActivityEvent = {
  type: 'ActivityBlocked',
  data: { activityId: id, status: 'blocked_by_allowlist', reason: 'not on the allowlist', at: t1 },
};
const blockedByQuota: ActivityEvent = {
  type: 'ActivityBlocked',
  data: { activityId: id, status: 'blocked_by_quota', reason: 'daily cap reached', at: t2 },
};

/** A history that ends in each status. */
const HISTORIES: Record<Exclude<ActivityStatus, 'none'>, ActivityEvent[]> = {
  requested: [requested],
  approved: [requested, approvedByRule],
  draft_pending_approval: [requested, queued],
  dispatching: [requested, approvedByRule, dispatching],
  sent: [requested, approvedByRule, dispatching, sent],
  sent_dryrun: [requested, dryRun],
  blocked_by_allowlist: [requested, blockedByAllowlist],
  blocked_by_quota: [requested, approvedByRule, blockedByQuota],
  failed: [requested, approvedByRule, dispatching, failed],
  rejected: [requested, queued, rejected],
};

const COMMANDS = {
  BlockActivity: { type: 'BlockActivity', status: 'blocked_by_allowlist', reason: 'not on the allowlist', now: t1 },
  SendDryRun: { type: 'SendDryRun', now: t1 },
  QueueForApproval: { type: 'QueueForApproval', approvalId: 'a1', ruleId: 'r2', now: t1 },
  ApproveActivity: { type: 'ApproveActivity', approvalId: 'a1', ruleId: null, by: 'board:u', now: t2 },
  RejectActivity: { type: 'RejectActivity', approvalId: 'a1', by: 'board:u', reason: 'off brand', now: t2 },
  StartDispatch: {
    type: 'StartDispatch',
    bucket: 'cred.2026-12-02',
    credentialId: 'cred',
    day: '2026-12-02',
    leaseUntil: '2026-12-02T10:05:02.000Z',
    now: t2,
  },
  RecordSent: { type: 'RecordSent', providerMessageId: 'm1', now: t3 },
  RecordFailed: { type: 'RecordFailed', error: { code: 'smtp_550', message: 'mailbox unavailable' }, quotaRefunded: false, now: t3 },
  RecordDelivery: { type: 'RecordDelivery', state: 'delivered', at: t3, providerEventId: 'ev1' },
  RecordReply: { type: 'RecordReply', at: t3, text: 'Thanks!', providerEventId: 'ev2' },
} satisfies Record<Exclude<ActivityCommand['type'], 'RequestActivity' | 'DecideResend'>, ActivityCommand>;

/** Where each command may start from: written out here, apart from the decider's own table. */
const ALLOWED: Record<keyof typeof COMMANDS, ActivityStatus[]> = {
  BlockActivity: ['requested', 'approved'],
  SendDryRun: ['requested'],
  QueueForApproval: ['requested'],
  ApproveActivity: ['requested', 'draft_pending_approval'],
  RejectActivity: ['draft_pending_approval'],
  StartDispatch: ['approved'],
  RecordSent: ['dispatching'],
  RecordFailed: ['requested', 'approved', 'dispatching'],
  RecordDelivery: ['sent'],
  RecordReply: ['sent'],
};

describe('activity decider: the lifecycle of a send', () => {
  const activity = spec(activityDecider);

  it('records a request as given, once', () => {
    activity.given([]).when({ type: 'RequestActivity', request }).then([requested]);
    activity.given([requested]).when({ type: 'RequestActivity', request }).thenThrows('conflict');
    activity
      .given(HISTORIES.sent)
      .when({ type: 'RequestActivity', request: { ...request, requestedAt: t3 } })
      .thenThrows('conflict');
  });

  it('approved by a rule as its dispatch starts (from issue 19 on): one event, from requested only; the older two-event history folds alike', () => {
    const startApproved = { ...COMMANDS.StartDispatch, approvedByRule: 'r1' } as const;
    const dispatchingApproved: ActivityEvent = { type: 'ActivityDispatching', data: { ...dispatching.data, approvedByRule: 'r1' } };
    activity.given([requested]).when(startApproved).then([dispatchingApproved]);
    activity.given([requested, dispatchingApproved]).when(COMMANDS.RecordSent).then([sent]);
    // A person's approval, a second start, a dispatch already approved: refused.
    for (const history of [HISTORIES.draft_pending_approval, HISTORIES.approved, HISTORIES.dispatching, HISTORIES.sent])
      activity.given(history).when(startApproved).thenThrows('invalid_state');
    // The state a command decides on is the same either way.
    expect(fold(activityDecider, [requested, dispatchingApproved])).toEqual(
      fold(activityDecider, [requested, approvedByRule, dispatching]),
    );
    expect(fold(activityDecider, [requested, dispatchingApproved, sent])).toEqual(
      fold(activityDecider, [requested, approvedByRule, dispatching, sent]),
    );
  });

  it('approved by a rule: approved, dispatching, sent', () => {
    activity
      .given([requested])
      .when({ type: 'ApproveActivity', approvalId: null, ruleId: 'r1', by: 'rule', now: t1 })
      .then([approvedByRule]);
    activity.given([requested, approvedByRule]).when(COMMANDS.StartDispatch).then([dispatching]);
    activity.given([requested, approvedByRule, dispatching]).when(COMMANDS.RecordSent).then([sent]);
    // A provider that gives no message id.
    activity
      .given([requested, approvedByRule, dispatching])
      .when({ type: 'RecordSent', providerMessageId: null, now: t3 })
      .then([{ type: 'ActivitySent', data: { activityId: id, providerMessageId: null, at: t3 } }]);
  });

  it('queued for a person, who approves it (with the approval it waits for) or rejects it', () => {
    activity.given([requested]).when(COMMANDS.QueueForApproval).then([queued]);
    activity
      .given([requested])
      .when({ type: 'QueueForApproval', approvalId: 'a1', ruleId: null, now: t1 })
      .then([{ type: 'ActivityQueuedForApproval', data: { activityId: id, approvalId: 'a1', ruleId: null, at: t1 } }]);
    activity.given([requested, queued]).when(COMMANDS.ApproveActivity).then([approvedByPerson]);
    activity.given([requested, queued, approvedByPerson]).when(COMMANDS.StartDispatch).then([dispatching]);
    activity.given([requested, queued]).when(COMMANDS.RejectActivity).then([rejected]);
    activity
      .given([requested, queued])
      .when({ ...COMMANDS.RejectActivity, reason: null })
      .then([{ type: 'ActivityRejected', data: { activityId: id, approvalId: 'a1', by: 'board:u', reason: null, at: t2 } }]);
  });

  it('refuses to approve a queued send with another approval than the one it waits for, or with none (a rule)', () => {
    activity
      .given([requested, queued])
      .when({ ...COMMANDS.ApproveActivity, approvalId: 'a2' })
      .thenThrows('invalid_state');
    activity
      .given([requested, queued])
      .when({ type: 'ApproveActivity', approvalId: null, ruleId: 'r1', by: 'rule', now: t2 })
      .thenThrows('invalid_state');
  });

  it('fails, at any step before the provider took the message, with the error and whether the quota came back', () => {
    for (const history of [HISTORIES.requested, HISTORIES.approved, HISTORIES.dispatching]) {
      activity.given(history).when(COMMANDS.RecordFailed).then([failed]);
    }
    const unreachable = { code: 'smtp_unreachable', message: 'connection refused', providerReply: '421 try later' };
    activity
      .given(HISTORIES.dispatching)
      .when({ type: 'RecordFailed', error: unreachable, quotaRefunded: true, now: t3 })
      .then([{ type: 'ActivityFailed', data: { activityId: id, error: unreachable, quotaRefunded: true, at: t3 } }]);
  });

  it('is blocked by the allowlist before approval, and by the quota before or after it', () => {
    activity.given([requested]).when(COMMANDS.BlockActivity).then([blockedByAllowlist]);
    activity
      .given([requested, approvedByRule])
      .when({ type: 'BlockActivity', status: 'blocked_by_quota', reason: 'daily cap reached', now: t2 })
      .then([blockedByQuota]);
    activity
      .given([requested])
      .when({ type: 'BlockActivity', status: 'blocked_by_quota', reason: 'daily cap reached', now: t1 })
      .then([{ type: 'ActivityBlocked', data: { activityId: id, status: 'blocked_by_quota', reason: 'daily cap reached', at: t1 } }]);
  });

  it('a dry run ends at the request: sent_dryrun, nothing after', () => {
    activity.given([requested]).when(COMMANDS.SendDryRun).then([dryRun]);
    // Not after an approval: a dry run is decided before the send would need one.
    activity.given([requested, approvedByRule]).when(COMMANDS.SendDryRun).thenThrows('invalid_state');
    activity.given([requested, dryRun]).when(COMMANDS.StartDispatch).thenThrows('invalid_state');
  });

  it('records what the provider reports after the send, the status staying sent', () => {
    activity
      .given(HISTORIES.sent)
      .when(COMMANDS.RecordDelivery)
      .then([{ type: 'ActivityDeliveryUpdated', data: { activityId: id, state: 'delivered', at: t3, providerEventId: 'ev1' } }]);
    const bounce = { code: 'smtp_bounce', message: 'user unknown', enhancedStatus: '5.1.1' };
    activity
      .given(HISTORIES.sent)
      .when({ type: 'RecordDelivery', state: 'bounced', at: t3, providerEventId: 'ev3', error: bounce })
      .then([
        { type: 'ActivityDeliveryUpdated', data: { activityId: id, state: 'bounced', at: t3, providerEventId: 'ev3', error: bounce } },
      ]);
    const bouncedLater: ActivityEvent = {
      type: 'ActivityDeliveryUpdated',
      data: { activityId: id, state: 'bounced', at: '2026-12-02T10:09:00.000Z', providerEventId: 'ev3', error: bounce },
    };
    // The dispatcher's outcome stands: a bounce after the send is a report on it, not a new status (nor a newer step).
    expect(fold(activityDecider, [...HISTORIES.sent, bouncedLater])).toMatchObject({
      status: 'sent',
      updatedAt: t3,
      providerEventIds: ['ev3'],
      error: null,
    });
  });

  it('records a reply, with the button picked when it is a tap, once per provider event', () => {
    activity
      .given(HISTORIES.sent)
      .when(COMMANDS.RecordReply)
      .then([{ type: 'ActivityReplyReceived', data: { activityId: id, at: t3, text: 'Thanks!', providerEventId: 'ev2' } }]);
    const choice = { kind: 'button' as const, id: 'book', title: 'Book a call' };
    const tapped: ActivityEvent = {
      type: 'ActivityReplyReceived',
      data: { activityId: id, at: t3, text: null, providerEventId: 'wa:1', choice },
    };
    activity.given(HISTORIES.sent).when({ type: 'RecordReply', at: t3, text: null, providerEventId: 'wa:1', choice }).then([tapped]);
    activity
      .given([...HISTORIES.sent, tapped])
      .when({ type: 'RecordReply', at: t3, text: null, providerEventId: 'wa:1', choice })
      .then([]);
  });

  it('provider events are recorded once whichever kind they were first recorded as', () => {
    const delivered: ActivityEvent = {
      type: 'ActivityDeliveryUpdated',
      data: { activityId: id, state: 'delivered', at: t3, providerEventId: 'ev1' },
    };
    activity
      .given([...HISTORIES.sent, delivered])
      .when({ ...COMMANDS.RecordReply, providerEventId: 'ev1' })
      .then([]);
    activity
      .given([...HISTORIES.sent, delivered])
      .when({ ...COMMANDS.RecordDelivery, state: 'read' })
      .then([]);
    activity
      .given([...HISTORIES.sent, delivered])
      .when({ ...COMMANDS.RecordDelivery, state: 'read', providerEventId: 'ev4' })
      .then([{ type: 'ActivityDeliveryUpdated', data: { activityId: id, state: 'read', at: t3, providerEventId: 'ev4' } }]);
  });

  const outOfOrder = (Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]).flatMap((name) =>
    (Object.keys(HISTORIES) as (keyof typeof HISTORIES)[])
      .filter((status) => !ALLOWED[name].includes(status))
      .map((status) => [name, status] as const),
  );

  it('refuses, among the commands out of order, the ones that matter most: nothing sent that was not dispatching, nor dispatched twice or unapproved', () => {
    expect(outOfOrder).toEqual(
      expect.arrayContaining([
        ['RecordSent', 'approved'],
        ['RecordSent', 'requested'],
        ['RecordSent', 'failed'],
        ['StartDispatch', 'dispatching'],
        ['StartDispatch', 'requested'],
        ['StartDispatch', 'draft_pending_approval'],
        ['StartDispatch', 'rejected'],
        ['RecordFailed', 'sent'],
      ]),
    );
  });

  it.each(outOfOrder)('refuses %s on an activity that is %s (422)', (name, status) => {
    activity
      .given(HISTORIES[status])
      .when(COMMANDS[name] as ActivityCommand)
      .thenThrows('invalid_state');
  });

  it('knows no activity that was never requested (404), whatever the command', () => {
    for (const command of Object.values(COMMANDS) as ActivityCommand[]) activity.given([]).when(command).thenThrows('not_found');
  });

  it('folds the dispatch lease, the approval waited for, the error and the time of the last step', () => {
    expect(fold(activityDecider, HISTORIES.draft_pending_approval)).toMatchObject({
      status: 'draft_pending_approval',
      approvalId: 'a1',
      updatedAt: t1,
    });
    expect(fold(activityDecider, HISTORIES.dispatching)).toMatchObject({
      status: 'dispatching',
      bucket: 'cred.2026-12-02',
      leaseUntil: '2026-12-02T10:05:02.000Z',
      updatedAt: t2,
      request,
    });
    expect(fold(activityDecider, HISTORIES.failed)).toMatchObject({ status: 'failed', error: { code: 'smtp_550' }, updatedAt: t3 });
    expect(fold(activityDecider, [requested])).toMatchObject({ status: 'requested', updatedAt: t0 });
  });
});
