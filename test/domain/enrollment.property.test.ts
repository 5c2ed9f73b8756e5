import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type EnrollmentCommand,
  type EnrollmentEvent,
  type EnrollmentState,
  type StepOutcome,
  enrollmentDecider,
} from '../../src/domain/enrollment.js';
import { inSendWindow } from '../../src/domain/send-window.js';
import type { SequenceSendWindow, SequenceVersion } from '../../src/domain/sequence.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const OUTCOMES: StepOutcome[] = [
  'sent',
  'sent_dryrun',
  'draft_pending_approval',
  'blocked_by_quota',
  'blocked_by_allowlist',
  'failed',
  'rejected',
];
const WINDOWS: SequenceSendWindow[] = [
  { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00', tz: 'Europe/Berlin' },
  // No zone of its own: read in the enrollment's.
  { days: ['mon', 'wed', 'fri'], start: '08:00', end: '08:30' },
  { days: ['sat', 'sun'], start: '22:00', end: '23:59', tz: 'Asia/Tokyo' },
  { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '02:00', end: '03:30', tz: 'America/New_York' },
];
const ZONES = ['Europe/Berlin', 'America/New_York', 'UTC', 'Asia/Kathmandu'];
// 2026 (both DST changes in Europe and America) to early 2027.
const T0 = Date.UTC(2026, 0, 1);
const T1 = Date.UTC(2027, 1, 1);

const definition: fc.Arbitrary<SequenceVersion> = fc.record({
  version: fc.integer({ min: 1, max: 4 }),
  steps: fc.array(
    fc.constantFrom('PT0S', 'PT30M', 'PT1H', 'PT17H', 'P1D', 'P2DT3H', 'P1W').map((waitBefore) => ({
      outboxId: 'o1',
      payload: { text: 'hi' },
      waitBefore,
    })),
    { minLength: 1, maxLength: 5 },
  ),
  sendWindow: fc.option(fc.constantFrom(...WINDOWS), { nil: null }),
  stopOn: fc.constant(['reply' as const]),
});

/** A command described relative to the state it meets, so that runs hit the current step often, and miss it too. */
type Step =
  | {
      kind: 'outcome';
      index: 'current' | 'previous' | 'next' | number;
      attempt: 'current' | 'previous' | 'next' | number;
      activity: 'waiting' | 'fresh' | number;
      outcome: StepOutcome;
      quotaDelay: number;
      dt: number;
    }
  | { kind: 'repeat'; dt: number }
  | { kind: 'stop'; reason: string; dt: number };

const dt = fc.integer({ min: 0, max: 3 * DAY });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('outcome' as const),
      index: fc.oneof(
        { weight: 4, arbitrary: fc.constant('current' as const) },
        { weight: 1, arbitrary: fc.constantFrom('previous' as const, 'next' as const) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) },
      ),
      attempt: fc.oneof(
        { weight: 4, arbitrary: fc.constant('current' as const) },
        { weight: 1, arbitrary: fc.constantFrom('previous' as const, 'next' as const) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) },
      ),
      activity: fc.oneof(
        { weight: 3, arbitrary: fc.constant('waiting' as const) },
        { weight: 2, arbitrary: fc.constant('fresh' as const) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 }) },
      ),
      outcome: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom<StepOutcome>('sent', 'sent_dryrun') },
        { weight: 3, arbitrary: fc.constantFrom<StepOutcome>('draft_pending_approval', 'blocked_by_quota') },
        { weight: 1, arbitrary: fc.constantFrom(...OUTCOMES) },
      ),
      // The dispatcher's contract: the quota reopens at the next local day, never before now.
      quotaDelay: fc.integer({ min: 0, max: 2 * DAY }),
      dt,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('repeat' as const), dt }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('stop' as const), reason: fc.constantFrom('reply', 'bounce', 'unsubscribe'), dt }),
  },
);

const activityIds = ['a-0', 'a-1', 'a-2'];

interface Decided {
  command: EnrollmentCommand;
  events: EnrollmentEvent[];
}

/** Start an enrollment, then run the steps against the folded state, each command's events applied before the next. */
function run(def: SequenceVersion, timezone: string, startAt: number, steps: Step[]): Decided[] {
  const d = enrollmentDecider;
  let state: EnrollmentState = d.initialState();
  let now = startAt;
  let fresh = 0;
  let last: Extract<EnrollmentCommand, { type: 'RecordStepOutcome' }> | null = null;
  const decided: Decided[] = [];
  const apply = (command: EnrollmentCommand) => {
    const events = d.decide(command, state);
    state = events.reduce(d.evolve, state);
    decided.push({ command, events });
  };
  apply({
    type: 'StartEnrollment',
    start: {
      enrollmentId: 'e1',
      sequenceId: 's1',
      companyId: 'c1',
      definition: def,
      to: 'ana@example.org',
      variables: {},
      timezone,
      by: 'u',
    },
    now: new Date(now).toISOString(),
  });
  const relative = (choice: 'current' | 'previous' | 'next' | number, current: number) =>
    choice === 'current' ? current : choice === 'previous' ? current - 1 : choice === 'next' ? current + 1 : choice;
  for (const s of steps) {
    now += s.dt;
    const at = new Date(now).toISOString();
    if (s.kind === 'stop') {
      apply({ type: 'StopEnrollment', reason: s.reason, now: at });
      continue;
    }
    if (s.kind === 'repeat') {
      if (last) apply({ ...last, now: at, ...(last.quotaReopensAt ? { quotaReopensAt: at } : {}) });
      continue;
    }
    const activityId =
      s.activity === 'waiting'
        ? (state.waitingFor ?? `fresh-${fresh++}`)
        : s.activity === 'fresh'
          ? `fresh-${fresh++}`
          : activityIds[s.activity]!;
    last = {
      type: 'RecordStepOutcome',
      index: relative(s.index, state.currentStep),
      attempt: relative(s.attempt, state.attempt),
      activityId,
      outcome: s.outcome,
      ...(s.outcome === 'blocked_by_allowlist' ? { reason: 'suppressed' } : {}),
      ...(s.outcome === 'blocked_by_quota' ? { quotaReopensAt: new Date(now + s.quotaDelay).toISOString() } : {}),
      now: at,
    };
    apply(last);
  }
  return decided;
}

// A tail of stops after the random steps, so that the stops meeting a completed enrollment are common too.
const stops = fc.array(fc.record({ kind: fc.constant('stop' as const), reason: fc.constantFrom('reply', 'reply', 'bounce'), dt }), {
  maxLength: 3,
});
const scenario = fc
  .tuple(definition, fc.constantFrom(...ZONES), fc.integer({ min: T0, max: T1 }), fc.array(step, { maxLength: 30 }), stops)
  .map(([def, tz, startAt, steps, tail]): [SequenceVersion, string, number, Step[]] => [def, tz, startAt, [...steps, ...tail]]);

describe('enrollment decider properties', () => {
  it('schedules no step twice, sends steps in order, and decides nothing after the end but one reply', () => {
    fc.assert(
      fc.property(scenario, ([def, tz, startAt, steps]) => {
        const decided = run(def, tz, startAt, steps);
        // A send's outcome moves its (step, attempt) on once: a repeat of it must not send or defer it again.
        const movedOn = decided.flatMap(({ command, events }) =>
          command.type === 'RecordStepOutcome' && events.some((e) => e.type === 'EnrollmentStepSent' || e.type === 'EnrollmentStepDeferred')
            ? [`${command.index}:${command.attempt}`]
            : [],
        );
        expect(new Set(movedOn).size).toBe(movedOn.length);
        const events = decided.flatMap((x) => x.events);
        const sent = events.flatMap((e) => (e.type === 'EnrollmentStepSent' ? [e.data.index] : []));
        expect(sent).toEqual(sent.map((_, i) => i));
        expect(sent.length).toBeLessThanOrEqual(def.steps.length);
        const end = events.findIndex((e) => e.type === 'EnrollmentCompleted' || e.type === 'EnrollmentStopped');
        if (end === -1) return;
        const after = events.slice(end + 1);
        if (events[end]!.type === 'EnrollmentCompleted') {
          expect(sent.length).toBe(def.steps.length);
          expect(after.map((e) => e.type)).toEqual(after.length ? ['EnrollmentReplied'] : []);
        } else {
          expect(after).toEqual([]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('is never due before the command’s now, and always inside the sending hours when there are some', () => {
    fc.assert(
      fc.property(scenario, ([def, tz, startAt, steps]) => {
        const w = def.sendWindow;
        const window = w && { days: w.days, start: w.start, end: w.end, tz: w.tz ?? tz };
        let checked = 0;
        for (const { command, events } of run(def, tz, startAt, steps)) {
          for (const e of events) {
            const due =
              e.type === 'EnrollmentStarted'
                ? e.data.dueAt
                : e.type === 'EnrollmentStepSent'
                  ? e.data.nextDueAt
                  : e.type === 'EnrollmentStepDeferred'
                    ? e.data.retryAt
                    : null;
            if (due === null) continue;
            checked++;
            expect(Date.parse(due), `${e.type} ${due} at ${command.now}`).toBeGreaterThanOrEqual(Date.parse(command.now));
            if (window) expect(inSendWindow(new Date(due), window), `${e.type} ${due} in ${JSON.stringify(window)}`).toBe(true);
          }
        }
        // Every run starts, so at least the first due time is checked.
        expect(checked).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
  });
});
