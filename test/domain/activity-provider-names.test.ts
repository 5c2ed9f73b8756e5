import { describe, it } from 'vitest';
import { type ActivityEvent, activityDecider } from '../../src/domain/activity.js';
import { activityRequest } from '../support/activity-fixtures.js';
import { spec } from '../support/decider-spec.js';

const id = '0b5e8f3a-7c21-4d9e-a6b4-3f2e1d0c9b8a';
const now = '2026-12-02T10:00:00.000Z';
const request = activityRequest({
  activityId: id,
  channel: 'linkedin',
  outboxChannel: 'linkedin',
  to: 'linkedin.com/in/ana-doe',
  payload: { kind: 'invitation' },
  requestedAt: now,
});
const dispatching: ActivityEvent[] = [
  { type: 'ActivityRequested', data: { ...request } },
  { type: 'ActivityApproved', data: { activityId: id, approvalId: null, ruleId: 'r1', by: 'rule', at: now } },
  {
    type: 'ActivityDispatching',
    data: { activityId: id, bucket: 'cred.2026-12-02', credentialId: 'cred', day: '2026-12-02', leaseUntil: now, at: now },
  },
];
const sent: ActivityEvent = { type: 'ActivitySent', data: { activityId: id, providerMessageId: 'bk_1', at: now } };
const MEMBER = 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E';

describe('activity decider: the names a provider gives a send after it was requested', () => {
  const activity = spec(activityDecider);

  it('a send records the names of the recipient the provider gave while sending; none given, none recorded', () => {
    activity
      .given(dispatching)
      .when({ type: 'RecordSent', providerMessageId: 'inv-1', recipientAliases: [MEMBER], now })
      .then([{ type: 'ActivitySent', data: { activityId: id, providerMessageId: 'inv-1', at: now, recipientAliases: [MEMBER] } }]);
    for (const recipientAliases of [undefined, []]) {
      activity
        .given(dispatching)
        .when({ type: 'RecordSent', providerMessageId: 'inv-1', ...(recipientAliases ? { recipientAliases } : {}), now })
        .then([{ type: 'ActivitySent', data: { activityId: id, providerMessageId: 'inv-1', at: now } }]);
    }
  });

  it("a delivery update may teach the message's new provider id (a rescheduled booking), once per provider event", () => {
    const update = {
      type: 'RecordDelivery' as const,
      state: 'booking_rescheduled' as const,
      at: now,
      providerEventId: 'cal:1',
      newProviderMessageId: 'bk_2',
    };
    const learnt: ActivityEvent = {
      type: 'ActivityDeliveryUpdated',
      data: { activityId: id, state: 'booking_rescheduled', at: now, providerEventId: 'cal:1', newProviderMessageId: 'bk_2' },
    };
    activity
      .given([...dispatching, sent])
      .when(update)
      .then([learnt]);
    activity
      .given([...dispatching, sent, learnt])
      .when(update)
      .then([]);
    activity
      .given([...dispatching, sent])
      .when({ type: 'RecordDelivery', state: 'booking_cancelled', at: now, providerEventId: 'cal:2' })
      .then([{ type: 'ActivityDeliveryUpdated', data: { activityId: id, state: 'booking_cancelled', at: now, providerEventId: 'cal:2' } }]);
  });
});
