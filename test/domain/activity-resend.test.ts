import { describe, expect, it } from 'vitest';
import {
  type ActivityEvent,
  type ActivityRequest,
  activityDecider,
  isUnknownOutcome,
  resendActivityId,
} from '../../src/domain/activity.js';
import { activityRequest } from '../support/activity-fixtures.js';
import { spec } from '../support/decider-spec.js';

const id = '6f1c3a52-9d7e-4b8a-8c1f-2a3b4c5d6e7f';
const now = '2026-11-30T10:00:00.000Z';
const later = '2026-11-30T10:07:00.000Z';
const request = activityRequest({ activityId: id, clientDedupKey: 'k1', requestedAt: now });
const requested: ActivityEvent = { type: 'ActivityRequested', data: { ...request } };
const approved: ActivityEvent = { type: 'ActivityApproved', data: { activityId: id, approvalId: null, ruleId: 'r1', by: 'rule', at: now } };
const dispatching: ActivityEvent = {
  type: 'ActivityDispatching',
  data: { activityId: id, bucket: 'cred.2026-11-30', credentialId: 'cred', day: '2026-11-30', leaseUntil: now, at: now },
};
const failed = (code: string, quotaRefunded = false): ActivityEvent => ({
  type: 'ActivityFailed',
  data: { activityId: id, error: { code, message: 'm' }, quotaRefunded, at: now },
});
const started = [requested, approved, dispatching];
const decideResend = { type: 'DecideResend' as const, by: 'board:ana', now: later };
const decided: ActivityEvent = {
  type: 'ActivityResendDecided',
  data: { activityId: id, resentAs: resendActivityId(id), by: 'board:ana', at: later },
};

describe('activity decider: a person resends a send whose outcome is unknown', () => {
  const activity = spec(activityDecider);

  it('records who decided and when, naming the one activity the resend will be', () => {
    activity
      .given([...started, failed('dispatch_interrupted')])
      .when(decideResend)
      .then([decided]);
    activity
      .given([...started, failed('smtp_outcome_unknown')])
      .when(decideResend)
      .then([decided]);
    // The HTTP channels' silent providers are unknown outcomes too.
    activity
      .given([...started, failed('whatsapp_outcome_unknown')])
      .when(decideResend)
      .then([decided]);
  });

  it('derives the resend id from the original: the same every time, never the original, and a resend of a resend is another', () => {
    expect(resendActivityId(id)).toBe(resendActivityId(id));
    expect(resendActivityId(id)).not.toBe(id);
    expect(resendActivityId(resendActivityId(id))).not.toBe(resendActivityId(id));
    expect(resendActivityId(id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('refuses a second decision (409), also when it comes with another person or time', () => {
    activity
      .given([...started, failed('dispatch_interrupted'), decided])
      .when(decideResend)
      .thenThrows('conflict', { activityId: id, resentAs: resendActivityId(id) });
    activity
      .given([...started, failed('dispatch_interrupted'), decided])
      .when({ type: 'DecideResend', by: 'board:bo', now: '2026-12-01T00:00:00.000Z' })
      .thenThrows('conflict');
  });

  it('refuses a known outcome (422): a failure the provider surely did not take, or any other status', () => {
    for (const code of ['smtp_unreachable', 'smtp_550', 'whatsapp_window_closed', 'outbox_deleted', 'adapter_error', 'calcom_500']) {
      activity
        .given([...started, failed(code, code === 'smtp_unreachable')])
        .when(decideResend)
        .thenThrows('invalid_state');
    }
    const sent: ActivityEvent = { type: 'ActivitySent', data: { activityId: id, providerMessageId: 'm1', at: now } };
    const blocked: ActivityEvent = {
      type: 'ActivityBlocked',
      data: { activityId: id, status: 'blocked_by_allowlist', reason: 'suppressed', at: now },
    };
    const pending: ActivityEvent = { type: 'ActivityQueuedForApproval', data: { activityId: id, approvalId: 'a1', ruleId: null, at: now } };
    activity
      .given([...started, sent])
      .when(decideResend)
      .thenThrows('invalid_state');
    activity.given([requested, blocked]).when(decideResend).thenThrows('invalid_state');
    activity.given([requested, pending]).when(decideResend).thenThrows('invalid_state');
    // Still in flight: the reconciler settles it first (or it ends on its own).
    activity.given(started).when(decideResend).thenThrows('invalid_state');
  });

  it('knows no activity that was never requested (404)', () => {
    activity.given([]).when(decideResend).thenThrows('not_found');
  });

  it('keeps the original failed and closed after the decision: the resend is another activity', () => {
    const state = [...started, failed('dispatch_interrupted'), decided].reduce(activityDecider.evolve, activityDecider.initialState());
    expect(state).toMatchObject({
      status: 'failed',
      resentAs: resendActivityId(id),
      error: { code: 'dispatch_interrupted' },
      updatedAt: later,
    });
    activity
      .given([...started, failed('dispatch_interrupted'), decided])
      .when({ type: 'RecordSent', providerMessageId: 'late', now: later })
      .thenThrows('invalid_state');
  });

  it("carries the link on the resend's request, which claims no dedup key of its own", () => {
    const resend: ActivityRequest = {
      ...request,
      activityId: resendActivityId(id),
      clientDedupKey: null,
      requestedBy: 'board:ana',
      requestedAt: later,
      resendOf: id,
    };
    activity
      .given([])
      .when({ type: 'RequestActivity', request: resend })
      .then([{ type: 'ActivityRequested', data: { ...resend } }]);
    const state = [{ type: 'ActivityRequested', data: { ...resend } } as ActivityEvent].reduce(
      activityDecider.evolve,
      activityDecider.initialState(),
    );
    expect(state.request).toMatchObject({ resendOf: id, clientDedupKey: null });
    expect(state.resentAs).toBeNull();
  });

  it('tells unknown outcomes from known ones', () => {
    expect(isUnknownOutcome({ code: 'dispatch_interrupted', message: '' })).toBe(true);
    expect(isUnknownOutcome({ code: 'unipile_outcome_unknown', message: '' })).toBe(true);
    expect(isUnknownOutcome({ code: 'outcome_unknown_smtp', message: '' })).toBe(false);
    expect(isUnknownOutcome(null)).toBe(false);
  });
});
