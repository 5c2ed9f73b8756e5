import { type Decider, type DomainEvent, DomainError } from './decider.js';
import { parseIsoDuration } from './iso-duration.js';
import type { SequenceVersion } from './sequence.js';
import { nextOpening } from './send-window.js';

/** One stream per enrollment of a recipient in a sequence: every step's outcome, and why it ended. */
export const enrollmentStream = (enrollmentId: string) => `crm_enrollment-${enrollmentId}`;

export type EnrollmentStatus = 'none' | 'active' | 'waiting_approval' | 'completed' | 'stopped';

/** What a step's send ended in, as the dispatcher answered (or as the activity later settled, after an approval). */
export type StepOutcome =
  'sent' | 'sent_dryrun' | 'draft_pending_approval' | 'blocked_by_quota' | 'blocked_by_allowlist' | 'failed' | 'rejected';

export interface EnrollmentStep {
  index: number;
  activityId: string;
  status: StepOutcome;
  at: string;
}

export interface EnrollmentStarted {
  enrollmentId: string;
  sequenceId: string;
  companyId: string;
  /** The sequence's version when it started: the enrollment runs on it to the end. */
  definition: SequenceVersion;
  to: string;
  variables: Record<string, string>;
  /** The time zone the sending hours are read in: the window's, else the contact's, else the outbox's. */
  timezone: string;
  dueAt: string;
  by: string;
  at: string;
}

export type EnrollmentEvent =
  | DomainEvent<'EnrollmentStarted', EnrollmentStarted & Record<string, unknown>>
  | DomainEvent<
      'EnrollmentStepSent',
      { enrollmentId: string; index: number; activityId: string; status: 'sent' | 'sent_dryrun'; nextDueAt: string | null; at: string }
    >
  | DomainEvent<'EnrollmentWaitingApproval', { enrollmentId: string; index: number; activityId: string; at: string }>
  | DomainEvent<
      'EnrollmentStepDeferred',
      { enrollmentId: string; index: number; activityId: string; attempt: number; retryAt: string; at: string }
    >
  | DomainEvent<'EnrollmentStepRescheduled', { enrollmentId: string; index: number; nextDueAt: string; at: string }>
  | DomainEvent<'EnrollmentCompleted', { enrollmentId: string; at: string }>
  | DomainEvent<'EnrollmentStopped', { enrollmentId: string; reason: string; index: number | null; activityId: string | null; at: string }>
  | DomainEvent<'EnrollmentReplied', { enrollmentId: string; at: string }>;

export type EnrollmentCommand =
  | { type: 'StartEnrollment'; start: Omit<EnrollmentStarted, 'dueAt' | 'at'>; now: string }
  | {
      type: 'RecordStepOutcome';
      /** The step and attempt the send was for: an outcome of another (a late or repeated record) changes nothing. */
      index: number;
      attempt: number;
      activityId: string;
      outcome: StepOutcome;
      /** Why a send was blocked, as the dispatcher recorded it (`not_allowlisted`, `suppressed`). */
      reason?: string;
      /** When the quota reopens (the next local day of the outbox): where a quota-blocked step is tried again. */
      quotaReopensAt?: string;
      now: string;
    }
  | { type: 'StopEnrollment'; reason: string; now: string }
  /** A due step found outside the sending hours (after a pause, downtime, a backlog): due again when they open. */
  | { type: 'RescheduleStep'; index: number; now: string };

export interface EnrollmentState {
  status: EnrollmentStatus;
  start: EnrollmentStarted | null;
  /** The step to send next (or whose send waits for a person). */
  currentStep: number;
  /** Tries of the current step: a quota block spends one, so that the next try is a send of its own. */
  attempt: number;
  nextDueAt: string | null;
  steps: EnrollmentStep[];
  /** The send that waits for a person's approval. */
  waitingFor: string | null;
  stopReason: string | null;
  replied: boolean;
}

const initialState = (): EnrollmentState => ({
  status: 'none',
  start: null,
  currentStep: 0,
  attempt: 0,
  nextDueAt: null,
  steps: [],
  waitingFor: null,
  stopReason: null,
  replied: false,
});

/** When a step is due: `waitBefore` after `from`, moved to the next opening of the sending hours. */
export function dueTime(definition: SequenceVersion, index: number, from: Date, timezone: string): Date {
  const wait = parseIsoDuration(definition.steps[index]!.waitBefore);
  if (wait === null) throw new DomainError('invalid_input', `step ${index} has an invalid waitBefore`);
  const at = new Date(from.getTime() + wait);
  const w = definition.sendWindow;
  return w ? nextOpening(at, { days: w.days, start: w.start, end: w.end, tz: w.tz ?? timezone }) : at;
}

/** The dedup key of a step's send: one per (enrollment, version, step, try), so a step is sent at most once. */
export const stepDedupKey = (enrollmentId: string, version: number, index: number, attempt: number) =>
  `sequence-step:${enrollmentId}:${version}:${index}:${attempt}`;

const stopOutcomes: Partial<Record<StepOutcome, (reason?: string) => string>> = {
  blocked_by_allowlist: (reason) => reason ?? 'not_allowlisted',
  failed: () => 'step_failed',
  rejected: () => 'rejected',
};

export const enrollmentDecider: Decider<EnrollmentCommand, EnrollmentState, EnrollmentEvent> = {
  initialState,
  evolve(state, event) {
    switch (event.type) {
      case 'EnrollmentStarted':
        return { ...state, status: 'active', start: event.data, nextDueAt: event.data.dueAt };
      case 'EnrollmentStepSent': {
        const d = event.data;
        return {
          ...state,
          status: 'active',
          currentStep: d.index + 1,
          attempt: 0,
          nextDueAt: d.nextDueAt,
          waitingFor: null,
          steps: withStep(state.steps, { index: d.index, activityId: d.activityId, status: d.status, at: d.at }),
        };
      }
      case 'EnrollmentWaitingApproval':
        return {
          ...state,
          status: 'waiting_approval',
          nextDueAt: null,
          waitingFor: event.data.activityId,
          steps: withStep(state.steps, {
            index: event.data.index,
            activityId: event.data.activityId,
            status: 'draft_pending_approval',
            at: event.data.at,
          }),
        };
      case 'EnrollmentStepDeferred':
        // Also after a person's approval: the send was blocked by the quota, and the step is tried again as any is.
        return {
          ...state,
          status: 'active',
          waitingFor: null,
          attempt: event.data.attempt,
          nextDueAt: event.data.retryAt,
          steps: withStep(state.steps, {
            index: event.data.index,
            activityId: event.data.activityId,
            status: 'blocked_by_quota',
            at: event.data.at,
          }),
        };
      case 'EnrollmentStepRescheduled':
        return { ...state, nextDueAt: event.data.nextDueAt };
      case 'EnrollmentCompleted':
        return { ...state, status: 'completed', nextDueAt: null };
      case 'EnrollmentStopped': {
        const d = event.data;
        const steps =
          d.activityId && d.index !== null
            ? withStep(state.steps, { index: d.index, activityId: d.activityId, status: stoppedStatus(d.reason), at: d.at })
            : state.steps;
        return { ...state, status: 'stopped', nextDueAt: null, waitingFor: null, stopReason: d.reason, steps };
      }
      case 'EnrollmentReplied':
        return { ...state, replied: true };
    }
  },
  decide(command, state) {
    if (command.type === 'StartEnrollment') {
      if (state.status !== 'none') throw new DomainError('conflict', 'enrollment already exists');
      const s = command.start;
      const dueAt = dueTime(s.definition, 0, new Date(command.now), s.timezone).toISOString();
      return [{ type: 'EnrollmentStarted', data: { ...s, dueAt, at: command.now } }];
    }
    if (state.status === 'none') throw new DomainError('not_found', 'enrollment not found');
    const enrollmentId = state.start!.enrollmentId;
    const at = command.now;
    if (command.type === 'StopEnrollment') {
      if (state.status === 'completed')
        return command.reason === 'reply' && !state.replied ? [{ type: 'EnrollmentReplied', data: { enrollmentId, at } }] : [];
      if (state.status === 'stopped') return [];
      return [{ type: 'EnrollmentStopped', data: { enrollmentId, reason: command.reason, index: null, activityId: null, at } }];
    }
    if (command.type === 'RescheduleStep') {
      const w = state.start!.definition.sendWindow;
      if (state.status !== 'active' || command.index !== state.currentStep || !w) return [];
      const window = { days: w.days, start: w.start, end: w.end, tz: w.tz ?? state.start!.timezone };
      const nextDueAt = nextOpening(new Date(at), window).toISOString();
      if (nextDueAt === at || (state.nextDueAt && nextDueAt <= state.nextDueAt)) return [];
      return [{ type: 'EnrollmentStepRescheduled', data: { enrollmentId, index: command.index, nextDueAt, at } }];
    }
    // An outcome for another step or try, or for an enrollment that ended meanwhile, is late: it changes nothing.
    if (
      (state.status !== 'active' && state.status !== 'waiting_approval') ||
      command.index !== state.currentStep ||
      command.attempt !== state.attempt
    )
      return [];
    if (state.status === 'waiting_approval' && command.activityId !== state.waitingFor) return [];
    const { index, activityId, outcome } = command;
    const definition = state.start!.definition;
    switch (outcome) {
      case 'sent':
      case 'sent_dryrun': {
        const last = index === definition.steps.length - 1;
        const nextDueAt = last ? null : dueTime(definition, index + 1, new Date(at), state.start!.timezone).toISOString();
        const sent: EnrollmentEvent = {
          type: 'EnrollmentStepSent',
          data: { enrollmentId, index, activityId, status: outcome, nextDueAt, at },
        };
        return last ? [sent, { type: 'EnrollmentCompleted', data: { enrollmentId, at } }] : [sent];
      }
      case 'draft_pending_approval':
        return state.status === 'waiting_approval'
          ? []
          : [{ type: 'EnrollmentWaitingApproval', data: { enrollmentId, index, activityId, at } }];
      case 'blocked_by_quota': {
        if (!command.quotaReopensAt) throw new DomainError('invalid_input', 'a quota block needs the time the quota reopens');
        const w = definition.sendWindow;
        const reopens = new Date(Math.max(Date.parse(command.quotaReopensAt), Date.parse(at)));
        const retryAt = (
          w ? nextOpening(reopens, { days: w.days, start: w.start, end: w.end, tz: w.tz ?? state.start!.timezone }) : reopens
        ).toISOString();
        return [{ type: 'EnrollmentStepDeferred', data: { enrollmentId, index, activityId, attempt: state.attempt + 1, retryAt, at } }];
      }
      default: {
        const reason = stopOutcomes[outcome]!(command.reason);
        return [{ type: 'EnrollmentStopped', data: { enrollmentId, reason, index, activityId, at } }];
      }
    }
  },
};

/** A step's latest outcome: one entry per send (a send that waited for a person shows how it ended). */
const withStep = (steps: EnrollmentStep[], step: EnrollmentStep) => [...steps.filter((s) => s.activityId !== step.activityId), step];

/** The status a step shows once its enrollment stopped on it. */
function stoppedStatus(reason: string): StepOutcome {
  if (reason === 'step_failed') return 'failed';
  if (reason === 'rejected') return 'rejected';
  return 'blocked_by_allowlist';
}
