import { describe, expect, it } from 'vitest';
import { DomainError, fold } from '../../src/domain/decider.js';
import {
  type EnrollmentCommand,
  type EnrollmentEvent,
  type EnrollmentStarted,
  type StepOutcome,
  dueTime,
  enrollmentDecider,
  stepDedupKey,
} from '../../src/domain/enrollment.js';
import type { SequenceSendWindow, SequenceVersion } from '../../src/domain/sequence.js';
import { spec } from '../support/decider-spec.js';

// 2026-12-02 is a Wednesday; Berlin is on CET (UTC+1), New York on EST (UTC-5).
const wed10 = '2026-12-02T10:00:00.000Z';
const enrollmentId = '6f1f3c1e-0000-4000-8000-0000000000f1';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';
const sequenceId = '6f1f3c1e-0000-4000-8000-0000000000e1';
const act = (n: number) => `6f1f3c1e-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;

const berlinOffice: SequenceSendWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00', tz: 'Europe/Berlin' };
const step = (waitBefore: string) => ({ outboxId: 'o1', payload: { subject: 'Hi', text: 'Hello' }, waitBefore });
const version = (waits: string[], sendWindow: SequenceSendWindow | null = null): SequenceVersion => ({
  version: 3,
  steps: waits.map(step),
  sendWindow,
  stopOn: ['reply'],
});

const start = (definition: SequenceVersion, timezone = 'Europe/Berlin'): Omit<EnrollmentStarted, 'dueAt' | 'at'> => ({
  enrollmentId,
  sequenceId,
  companyId,
  definition,
  to: 'ana@example.org',
  variables: { firstName: 'Ana' },
  timezone,
  by: 'board:u',
});
const startCmd = (definition: SequenceVersion, now = wed10, timezone?: string): EnrollmentCommand => ({
  type: 'StartEnrollment',
  start: start(definition, timezone),
  now,
});
const started = (definition: SequenceVersion, dueAt = wed10, at = wed10, timezone?: string): EnrollmentEvent => ({
  type: 'EnrollmentStarted',
  data: { ...start(definition, timezone), dueAt, at },
});
const outcome = (
  index: number,
  attempt: number,
  activityId: string,
  o: StepOutcome,
  now: string,
  extra: { reason?: string; quotaReopensAt?: string } = {},
): EnrollmentCommand => ({ type: 'RecordStepOutcome', index, attempt, activityId, outcome: o, now, ...extra });
const stepSent = (index: number, activityId: string, nextDueAt: string | null, at: string, status: 'sent' | 'sent_dryrun' = 'sent') =>
  ({ type: 'EnrollmentStepSent', data: { enrollmentId, index, activityId, status, nextDueAt, at } }) as const;
const waiting = (index: number, activityId: string, at: string) =>
  ({ type: 'EnrollmentWaitingApproval', data: { enrollmentId, index, activityId, at } }) as const;
const deferred = (index: number, activityId: string, attempt: number, retryAt: string, at: string) =>
  ({ type: 'EnrollmentStepDeferred', data: { enrollmentId, index, activityId, attempt, retryAt, at } }) as const;
const completed = (at: string) => ({ type: 'EnrollmentCompleted', data: { enrollmentId, at } }) as const;
const stopped = (reason: string, index: number | null, activityId: string | null, at: string) =>
  ({ type: 'EnrollmentStopped', data: { enrollmentId, reason, index, activityId, at } }) as const;
const stop = (reason: string, now: string): EnrollmentCommand => ({ type: 'StopEnrollment', reason, now });

describe('enrollment decider', () => {
  const s = spec(enrollmentDecider);
  const plain = version(['PT0S', 'P2D', 'P1D']);

  describe('StartEnrollment', () => {
    it('is due step 0’s waitBefore after now when there are no sending hours', () => {
      s.given([])
        .when(startCmd(version(['P2DT3H', 'P1D'])))
        .then([started(version(['P2DT3H', 'P1D']), '2026-12-04T13:00:00.000Z')]);
    });

    it('keeps the due time when it falls inside the window', () => {
      const def = version(['PT2H'], berlinOffice);
      s.given([])
        .when(startCmd(def))
        .then([started(def, '2026-12-02T12:00:00.000Z')]);
    });

    it('moves a due time on Friday evening to Monday 09:00 Berlin across the weekend', () => {
      const def = version(['PT1H', 'P1D'], berlinOffice);
      const fri1630 = '2026-12-04T15:30:00.000Z'; // 16:30 CET; +1h is 17:30, after the window closes
      s.given([])
        .when(startCmd(def, fri1630))
        .then([started(def, '2026-12-07T08:00:00.000Z', fri1630)]);
    });

    it('reads a window without its own zone in the enrollment’s time zone', () => {
      const { tz: _tz, ...noTz } = berlinOffice;
      const def = version(['PT0S'], noTz);
      // 13:00Z is 14:00 in Berlin (inside) but 08:00 in New York (before 09:00).
      s.given([])
        .when(startCmd(def, '2026-12-02T13:00:00.000Z', 'America/New_York'))
        .then([started(def, '2026-12-02T14:00:00.000Z', '2026-12-02T13:00:00.000Z', 'America/New_York')]);
    });

    it('prefers the window’s own zone over the enrollment’s', () => {
      const def = version(['PT0S'], berlinOffice);
      s.given([])
        .when(startCmd(def, '2026-12-02T07:00:00.000Z', 'America/New_York'))
        .then([started(def, '2026-12-02T08:00:00.000Z', '2026-12-02T07:00:00.000Z', 'America/New_York')]);
    });

    it('refuses a second start', () => {
      s.given([started(plain)])
        .when(startCmd(plain))
        .thenThrows('conflict');
    });

    it('refuses a first step with an invalid waitBefore', () => {
      s.given([])
        .when(startCmd(version(['P1M'])))
        .thenThrows('invalid_input');
    });
  });

  describe('RecordStepOutcome', () => {
    const t1 = '2026-12-02T10:05:00.000Z';
    const t2 = '2026-12-04T10:05:00.000Z';

    it('is not_found before the enrollment started', () => {
      s.given([])
        .when(outcome(0, 0, act(1), 'sent', t1))
        .thenThrows('not_found');
    });

    it('records a sent step with when the next one is due', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'sent', t1))
        .then([stepSent(0, act(1), '2026-12-04T10:05:00.000Z', t1)]);
    });

    it('records a dry-run send the same way', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'sent_dryrun', t1))
        .then([stepSent(0, act(1), '2026-12-04T10:05:00.000Z', t1, 'sent_dryrun')]);
    });

    it('moves the next due time into the window: a Friday send with a 1-day wait is next due Monday 09:00', () => {
      const def = version(['PT0S', 'P1D'], berlinOffice);
      const fri = '2026-12-04T14:00:00.000Z';
      s.given([started(def)])
        .when(outcome(0, 0, act(1), 'sent', fri))
        .then([stepSent(0, act(1), '2026-12-07T08:00:00.000Z', fri)]);
    });

    it('completes after the last step is sent', () => {
      s.given([started(plain), stepSent(0, act(1), t2, t1), stepSent(1, act(2), t2, t2)])
        .when(outcome(2, 0, act(3), 'sent', '2026-12-05T10:00:00.000Z'))
        .then([stepSent(2, act(3), null, '2026-12-05T10:00:00.000Z'), completed('2026-12-05T10:00:00.000Z')]);
    });

    it('waits for approval of a draft, and a repeat of that outcome is no event', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'draft_pending_approval', t1))
        .then([waiting(0, act(1), t1)]);
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(1), 'draft_pending_approval', t2))
        .then([]);
    });

    it('continues when the approved activity is sent', () => {
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(1), 'sent', t2))
        .then([stepSent(0, act(1), '2026-12-06T10:05:00.000Z', t2)]);
    });

    it('stops when the waiting draft is rejected', () => {
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(1), 'rejected', t2))
        .then([stopped('rejected', 0, act(1), t2)]);
    });

    it('ignores an outcome of another activity while waiting for approval', () => {
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(9), 'sent', t2))
        .then([]);
    });

    it('defers a quota-blocked step to when the quota reopens, as the next attempt', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'blocked_by_quota', t1, { quotaReopensAt: '2026-12-02T23:00:00.000Z' }))
        .then([deferred(0, act(1), 1, '2026-12-02T23:00:00.000Z', t1)]);
    });

    it('moves the retry into the window: a quota reopening at Saturday midnight retries Monday 09:00', () => {
      const def = version(['PT0S', 'P1D'], berlinOffice);
      s.given([started(def), deferred(0, act(1), 1, '2026-12-02T23:00:00.000Z', t1)])
        .when(outcome(0, 1, act(2), 'blocked_by_quota', t2, { quotaReopensAt: '2026-12-04T23:00:00.000Z' }))
        .then([deferred(0, act(2), 2, '2026-12-07T08:00:00.000Z', t2)]);
    });

    it('sends the deferred step on its next attempt and ignores the earlier attempt’s outcome', () => {
      const given = [started(plain), deferred(0, act(1), 1, '2026-12-02T23:00:00.000Z', t1)];
      s.given(given)
        .when(outcome(0, 0, act(1), 'sent', t2))
        .then([]);
      s.given(given)
        .when(outcome(0, 1, act(2), 'sent', t2))
        .then([stepSent(0, act(2), '2026-12-06T10:05:00.000Z', t2)]);
      // Each attempt is a send of its own, so the dispatcher must not dedup it against the blocked one.
      const state = fold(enrollmentDecider, given);
      expect(state.attempt).toBe(1);
      expect(stepDedupKey(enrollmentId, 3, 0, state.attempt)).not.toBe(stepDedupKey(enrollmentId, 3, 0, 0));
      expect(stepDedupKey(enrollmentId, 3, 0, 1)).toBe(`sequence-step:${enrollmentId}:3:0:1`);
    });

    it('starts the next step at attempt 0 after a deferred step is sent', () => {
      s.given([started(plain), deferred(0, act(1), 1, t1, t1), stepSent(0, act(2), t2, t2)])
        .when(outcome(1, 0, act(3), 'sent', t2))
        .then([stepSent(1, act(3), '2026-12-05T10:05:00.000Z', t2)]);
    });

    it('refuses a quota block without the time the quota reopens', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'blocked_by_quota', t1))
        .thenThrows('invalid_input');
    });

    // A quota block of the approved activity once left the enrollment waiting for that activity, ignoring the
    // next attempt's outcome for ever.
    it('retries a step whose approved activity was then blocked by the quota', () => {
      const given = [
        started(plain),
        waiting(0, act(1), t1),
        deferred(0, act(1), 1, '2026-12-04T23:00:00.000Z', t2), // what the decider decides for that block
      ];
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(1), 'blocked_by_quota', t2, { quotaReopensAt: '2026-12-04T23:00:00.000Z' }))
        .then([given[2]!]);
      expect(fold(enrollmentDecider, given).status).toBe('active');
      // A time the quota reopens that is already past is tried at once, never before now.
      s.given([started(plain), waiting(0, act(1), t1)])
        .when(outcome(0, 0, act(1), 'blocked_by_quota', t2, { quotaReopensAt: '2026-12-02T23:00:00.000Z' }))
        .then([deferred(0, act(1), 1, t2, t2)]);
      s.given(given)
        .when(outcome(0, 1, act(2), 'sent', '2026-12-05T08:00:00.000Z'))
        .then([stepSent(0, act(2), '2026-12-07T08:00:00.000Z', '2026-12-05T08:00:00.000Z')]);
    });

    it('stops on an allowlist block with the block’s reason, not_allowlisted when it gave none', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'blocked_by_allowlist', t1, { reason: 'suppressed' }))
        .then([stopped('suppressed', 0, act(1), t1)]);
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'blocked_by_allowlist', t1))
        .then([stopped('not_allowlisted', 0, act(1), t1)]);
    });

    it('stops on a failed or rejected send', () => {
      s.given([started(plain)])
        .when(outcome(0, 0, act(1), 'failed', t1))
        .then([stopped('step_failed', 0, act(1), t1)]);
      s.given([started(plain), stepSent(0, act(1), t2, t1)])
        .when(outcome(1, 0, act(2), 'rejected', t2))
        .then([stopped('rejected', 1, act(2), t2)]);
    });

    it('ignores an outcome of another step or attempt: late, early or repeated', () => {
      const given = [started(plain), stepSent(0, act(1), t2, t1)];
      s.given(given)
        .when(outcome(0, 0, act(1), 'sent', t2))
        .then([]); // repeated
      s.given(given)
        .when(outcome(0, 0, act(1), 'failed', t2))
        .then([]); // late
      s.given(given)
        .when(outcome(2, 0, act(3), 'sent', t2))
        .then([]); // ahead
      s.given(given)
        .when(outcome(1, 1, act(2), 'sent', t2))
        .then([]); // attempt not spent yet
    });

    it('ignores any outcome after the enrollment ended', () => {
      const done = [started(plain), stepSent(0, act(1), t2, t1), stepSent(1, act(2), t2, t2), stepSent(2, act(3), null, t2), completed(t2)];
      s.given(done)
        .when(outcome(2, 0, act(3), 'failed', t2))
        .then([]);
      s.given(done)
        .when(outcome(3, 0, act(4), 'sent', t2))
        .then([]);
      const ended = [started(plain), stopped('unsubscribe', null, null, t1)];
      s.given(ended)
        .when(outcome(0, 0, act(1), 'sent', t2))
        .then([]);
      s.given(ended)
        .when(outcome(0, 0, act(1), 'blocked_by_quota', t2, { quotaReopensAt: t2 }))
        .then([]);
    });
  });

  describe('StopEnrollment', () => {
    const t1 = '2026-12-03T09:00:00.000Z';

    it('stops an active or a waiting enrollment, on no step', () => {
      s.given([started(plain)])
        .when(stop('unsubscribe', t1))
        .then([stopped('unsubscribe', null, null, t1)]);
      s.given([started(plain), waiting(0, act(1), wed10)])
        .when(stop('reply', t1))
        .then([stopped('reply', null, null, t1)]);
    });

    it('marks a completed enrollment replied, once, on a reply only', () => {
      const done = [started(version(['PT0S'])), stepSent(0, act(1), null, wed10), completed(wed10)];
      s.given(done)
        .when(stop('reply', t1))
        .then([{ type: 'EnrollmentReplied', data: { enrollmentId, at: t1 } }]);
      s.given([...done, { type: 'EnrollmentReplied', data: { enrollmentId, at: t1 } }])
        .when(stop('reply', t1))
        .then([]);
      s.given(done).when(stop('bounce', t1)).then([]);
    });

    it('does nothing on a stopped enrollment', () => {
      s.given([started(plain), stopped('bounce', null, null, wed10)])
        .when(stop('reply', t1))
        .then([]);
      s.given([started(plain), stopped('step_failed', 0, act(1), wed10)])
        .when(stop('unsubscribe', t1))
        .then([]);
    });

    it('is not_found before the enrollment started', () => {
      s.given([]).when(stop('reply', t1)).thenThrows('not_found');
    });
  });

  describe('RescheduleStep', () => {
    const office = version(['PT0S', 'P1D'], berlinOffice);
    // Wednesday 10:00 UTC is 11:00 in Berlin (inside); 20:00 UTC is 21:00 (outside): due again Thursday 09:00 Berlin.
    const wed20 = '2026-12-02T20:00:00.000Z';
    const thu08 = '2026-12-03T08:00:00.000Z';
    it('moves a step found due outside the hours to their next opening, once', () => {
      s.given([started(office)])
        .when({ type: 'RescheduleStep', index: 0, now: wed20 })
        .then([{ type: 'EnrollmentStepRescheduled', data: { enrollmentId, index: 0, nextDueAt: thu08, at: wed20 } }]);
      s.given([started(office), { type: 'EnrollmentStepRescheduled', data: { enrollmentId, index: 0, nextDueAt: thu08, at: wed20 } }])
        .when({ type: 'RescheduleStep', index: 0, now: wed20 })
        .then([]);
    });
    it('changes nothing inside the hours, without a window, for another step, or once ended', () => {
      s.given([started(office)])
        .when({ type: 'RescheduleStep', index: 0, now: wed10 })
        .then([]);
      s.given([started(version(['PT0S']))])
        .when({ type: 'RescheduleStep', index: 0, now: wed20 })
        .then([]);
      s.given([started(office)])
        .when({ type: 'RescheduleStep', index: 1, now: wed20 })
        .then([]);
      s.given([started(office), stopped('manual', null, null, wed10)])
        .when({ type: 'RescheduleStep', index: 0, now: wed20 })
        .then([]);
    });
  });

  describe('dueTime', () => {
    it('throws invalid_input for a waitBefore that is not a duration it accepts', () => {
      for (const bad of ['P1M', '1 day', '', 'PT', 'P400D']) {
        let err: unknown;
        try {
          dueTime(version(['PT0S', bad]), 1, new Date(wed10), 'UTC');
        } catch (e) {
          err = e;
        }
        expect(err, bad).toBeInstanceOf(DomainError);
        expect((err as DomainError).kind).toBe('invalid_input');
      }
    });

    it('adds the wait to `from`', () => {
      expect(dueTime(version(['P1W']), 0, new Date(wed10), 'UTC').toISOString()).toBe('2026-12-09T10:00:00.000Z');
    });
  });
});
