import { type Actor, SYSTEM_ACTOR } from '../commands/actor.js';
import { AggregateCache } from '../commands/aggregate-cache.js';
import type { Dispatcher, SendResult } from '../commands/dispatch.js';
import { enrollment, stopEnrollment } from '../commands/sequences.js';
import { type Loaded, loadAggregate } from '../commands/handle-command.js';
import { loadOutbox } from '../commands/outboxes.js';
import { ANSWERABLE, type ActivityEvent, activityDecider, activityStream } from '../domain/activity.js';
import { DomainError } from '../domain/decider.js';
import { type EnrollmentState, type StepOutcome, enrollmentDecider, enrollmentStream, stepDedupKey } from '../domain/enrollment.js';
import { type Weekday, inSendWindow, nextOpening } from '../domain/send-window.js';
import { sequenceDecider, sequenceStream } from '../domain/sequence.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { Positions } from '../eventstore/positions.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import type { Logger } from '../logger.js';
import { decidedApprovals, dueEnrollments, enrollmentsToStop } from '../projections/enrollments.js';
import type { Queryable } from '../sql/db.js';
import { renderPayload } from './render.js';

export const SCHEDULER_LOCK = 'sequence-scheduler';

/**
 * Who sends a sequence's steps, as the activities record it: an agent, since no person writes them (so a message a
 * channel reserves for people, Instagram's human-agent tag, waits for a person's approval).
 */
export const SEQUENCE_ACTOR: Actor = { kind: 'agent', tokenId: 'sequence-scheduler', agentId: 'sequence', companyId: '' };

export interface SchedulerDeps {
  store: EventStore;
  db: Queryable;
  dispatcher: Dispatcher;
  now: () => Date;
  logger: Logger;
  /**
   * One scheduler works at a time across instances (an advisory lock, `SCHEDULER_LOCK`): only work is saved, since a
   * second one would find every step already sent (dedup keys) or recorded (exact revisions). None: always works.
   */
  leadership?: { start(): void; stop(): Promise<void>; isLeader(name: string): boolean };
  /** Told how late each step went (ms after it came due): the runtime's lag histogram. */
  onStepSent?: (lateMs: number) => void;
}

export interface SchedulerOptions {
  everyMs: number;
  /** Steps sent at once by one pass. */
  concurrency: number;
  /** Enrollments a pass takes at most, of each kind (due, decided approvals, stops). */
  batch: number;
}

// As many steps at once as the dispatcher lets one company send (half its 64 slots).
export const SCHEDULER_DEFAULTS: SchedulerOptions = { everyMs: 1000, concurrency: 32, batch: 500 };

/**
 * The sequence cron: finds due steps and sends each through the dispatcher, like any send, under a dedup key
 * made from (enrollment, version, step, try). So however often it runs, crashes or races another instance, a
 * step is sent at most once: a second pass over the same step gets the first send's answer. Each outcome is
 * recorded on the enrollment with its exact revision; an outcome of a step the enrollment has moved past
 * changes nothing. It also follows sends that waited for a person, and stops enrollments that have a reason to.
 */
export class SequenceScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private readonly options: SchedulerOptions;
  /** Sequences as of their last read, caught up on each step: a pause is seen by the next step, read whole by none. */
  private readonly sequences: AggregateCache;

  constructor(
    private readonly deps: SchedulerDeps,
    options: Partial<SchedulerOptions> = {},
  ) {
    this.options = { ...SCHEDULER_DEFAULTS, ...options };
    this.sequences = new AggregateCache(deps.store);
  }

  start(): void {
    this.deps.leadership?.start();
    this.timer ??= setInterval(() => {
      if (this.deps.leadership && !this.deps.leadership.isLeader(SCHEDULER_LOCK)) return;
      this.running ??= this.runOnce()
        .catch((err: unknown) => this.deps.logger.error('sequence scheduler pass failed', { error: err }))
        .finally(() => {
          this.running = null;
        });
    }, this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    await this.deps.leadership?.stop();
  }

  /** One pass: stops first (a reply must win over a step due at the same time), then decided approvals, then due steps. */
  async runOnce(): Promise<{ stopped: number; followed: number; sent: number; position: Position | null }> {
    const { db, store } = this.deps;
    const positions = new Positions();
    // Each item on its own: one that fails (a blip, a run of conflicts) is retried by the next pass and holds back no other.
    const each = async <T>(items: T[], what: string, work: (item: T) => Promise<void>) =>
      pool(items, this.options.concurrency, async (item) => {
        try {
          await work(item);
        } catch (err) {
          this.deps.logger.warn(`sequence ${what} not done; the next pass tries again`, { item, error: err });
        }
      });
    let stopped = 0;
    await each(await enrollmentsToStop(db, this.options.batch), 'stop', async ({ id, cause }) => {
      const r = await stopEnrollment(store, id, cause, SYSTEM_ACTOR, this.deps.now());
      positions.add(r.position);
      if (r.events.length > 0) stopped++;
    });
    let followed = 0;
    await each(await decidedApprovals(db, this.options.batch), 'approval follow-up', async ({ id }) => {
      if (await this.followApproval(id, positions)) followed++;
    });
    let sent = 0;
    await each(await dueEnrollments(db, this.deps.now(), this.options.batch), 'step', async ({ id, sequenceId }) => {
      if (await this.runStep(id, sequenceId, positions)) sent++;
    });
    return { stopped, followed, sent, position: positions.last };
  }

  /**
   * Sends the enrollment's current step if it is still due: decided on the enrollment's and the sequence's streams
   * as they are now (a pause, a deletion or a stop that came during the pass holds), inside the sending hours (a
   * step overdue after a pause, downtime or a backlog waits for them). Both streams are read at once (an
   * enrollment's sequence never changes, so the read model's says which; of the sequence's, only what is newer
   * than the cached state), and concurrent steps' reads share round trips (the store's coalesced forward reads).
   */
  private async runStep(enrollmentId: string, sequenceId: string, positions: Positions): Promise<boolean> {
    const [loaded, [sequence]] = await Promise.all([
      loadAggregate(this.deps.store, enrollmentStream(enrollmentId), enrollmentDecider),
      this.sequences.load([{ streamName: sequenceStream(sequenceId), decider: sequenceDecider }] as const),
    ]);
    const { state } = loaded;
    const now = this.deps.now();
    if (state.status !== 'active' || !state.nextDueAt || Date.parse(state.nextDueAt) > now.getTime()) return false;
    const start = state.start!;
    if (sequence.status !== 'active') return false; // paused: held; deleted: stopped by the stop pass
    const index = state.currentStep;
    const w = start.definition.sendWindow;
    if (w && !inSendWindow(now, { days: w.days, start: w.start, end: w.end, tz: w.tz ?? start.timezone })) {
      const r = await enrollment(
        this.deps.store,
        enrollmentId,
        { actor: SYSTEM_ACTOR, now },
        (s) => ({ type: 'RescheduleStep', index, now: s.now }),
        loaded,
      );
      positions.add(r.position);
      return false;
    }
    const step = start.definition.steps[index]!;
    let result: SendResult;
    try {
      let position: Position | null;
      ({ result, position } = await this.deps.dispatcher.send(
        start.companyId,
        {
          channel: step.channel ?? (await this.outboxChannel(start.companyId, step.outboxId)) ?? 'dry-run',
          outboxId: step.outboxId,
          to: start.to,
          payload: renderPayload(step.payload, start.variables),
          contentPieceId: step.contentPieceId ?? null,
          tags: step.tags,
          clientDedupKey: stepDedupKey(enrollmentId, start.definition.version, index, state.attempt),
          dedupScope: 'sequence',
        },
        SEQUENCE_ACTOR,
      ));
      positions.add(position);
    } catch (err) {
      // Refused before anything was sent (its outbox gone, the payload no longer valid): the step failed.
      if (!(err instanceof DomainError) || err.kind === 'conflict') throw err;
      positions.add(await this.record(enrollmentId, loaded, { index, activityId: null, outcome: 'failed', reason: err.message }));
      return false;
    }
    positions.add(await this.record(enrollmentId, loaded, { index, activityId: result.id, outcome: result.status as StepOutcome }));
    this.deps.onStepSent?.(now.getTime() - Date.parse(state.nextDueAt));
    return result.status === 'sent' || result.status === 'sent_dryrun';
  }

  /** An enrollment waiting for a person: the send's final status, now that it has one. */
  private async followApproval(enrollmentId: string, positions: Positions): Promise<boolean> {
    const loaded = await loadAggregate(this.deps.store, enrollmentStream(enrollmentId), enrollmentDecider);
    const { state } = loaded;
    if (state.status !== 'waiting_approval' || !state.waitingFor) return false;
    const activity = (await loadAggregate(this.deps.store, activityStream(state.waitingFor), activityDecider)).state;
    // Still waiting, or approved and on its way: the next pass looks again.
    if (!ANSWERABLE.has(activity.status) || activity.status === 'draft_pending_approval') return false;
    positions.add(
      await this.record(enrollmentId, loaded, {
        index: state.currentStep,
        activityId: state.waitingFor,
        outcome: activity.status as StepOutcome,
      }),
    );
    return true;
  }

  /** Records a step's outcome on the enrollment as it was read (`loaded`: the append's exact revision proves it current). */
  private async record(
    enrollmentId: string,
    loaded: Loaded<EnrollmentState>,
    o: { index: number; activityId: string | null; outcome: StepOutcome; reason?: string },
  ): Promise<Position | null> {
    const { state } = loaded;
    const start = state.start!;
    const activityId = o.activityId ?? '00000000-0000-0000-0000-000000000000';
    let reason = o.reason;
    let quotaReopensAt: string | undefined;
    const block = o.activityId && o.outcome.startsWith('blocked_') ? await blockOf(this.deps.store, o.activityId) : undefined;
    if (o.outcome === 'blocked_by_allowlist') reason = block?.reason;
    if (o.outcome === 'blocked_by_quota') {
      // When the limit that refused the send takes one more; a block from before limits named none: the next day.
      quotaReopensAt = block?.quota?.retryAt;
      if (!quotaReopensAt) {
        const outbox = await loadOutbox(this.deps.store, start.companyId, start.definition.steps[o.index]!.outboxId);
        quotaReopensAt = nextLocalDay(this.deps.now(), outbox?.timezone ?? 'UTC').toISOString();
      }
    }
    const r = await enrollment(
      this.deps.store,
      enrollmentId,
      { actor: SYSTEM_ACTOR, now: this.deps.now() },
      (s) => ({
        type: 'RecordStepOutcome',
        index: o.index,
        attempt: state.attempt,
        activityId,
        outcome: o.outcome,
        ...(reason ? { reason } : {}),
        ...(quotaReopensAt ? { quotaReopensAt } : {}),
        now: s.now,
      }),
      loaded,
    );
    return r.position;
  }

  private async outboxChannel(companyId: string, outboxId: string) {
    return (await loadOutbox(this.deps.store, companyId, outboxId))?.channel ?? null;
  }
}

/** How a send was blocked, as its activity recorded it: the reason, and on a quota block the limit and retryAt. */
async function blockOf(store: EventStore, activityId: string) {
  const events = (await readStreamIfAny(store, activityStream(activityId))) ?? [];
  const blocked = [...events].reverse().find((e) => e.type === 'ActivityBlocked');
  return blocked?.data as Extract<ActivityEvent, { type: 'ActivityBlocked' }>['data'] | undefined;
}

const EVERY_DAY: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** The start of the next local day in `tz` (its first minute's next opening, a minute on): when a day's quota reopens. */
function nextLocalDay(now: Date, tz: string): Date {
  return nextOpening(new Date(now.getTime() + 60_000), { days: EVERY_DAY, start: '00:00', end: '00:01', tz });
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
