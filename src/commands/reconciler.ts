import type { Logger } from '../logger.js';
import { unsettledActivities } from '../projections/activities.js';
import type { Queryable } from '../sql/db.js';
import { SYSTEM_ACTOR } from './actor.js';
import type { Dispatcher } from './dispatch.js';

/**
 * Finds activities left between reservation and outcome past the lease (a process crashed mid-send) and
 * settles them as `dispatch_interrupted`. Several instances may run it: settling is a command with an
 * exact revision, so each activity is settled once.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      db: Queryable;
      dispatcher: Dispatcher;
      now: () => Date;
      leaseMs: number;
      logger: Logger;
      /** Told each activity settled (the runtime counts them). */
      onSettled?: (activityId: string) => void;
    },
    private readonly everyMs = 30_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.runOnce()
        .then((n) => {
          if (n > 0) this.deps.logger.warn('settled interrupted dispatches', { count: n });
        })
        .catch((err: unknown) => this.deps.logger.error('reconciler pass failed', { error: err }))
        .finally(() => {
          this.running = null;
        });
    }, this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; returns how many activities it settled. */
  async runOnce(): Promise<number> {
    const cutoff = new Date(this.deps.now().getTime() - this.deps.leaseMs);
    let settled = 0;
    for (const a of await unsettledActivities(this.deps.db, cutoff)) {
      if (await this.deps.dispatcher.settleInterrupted(a.id, SYSTEM_ACTOR)) {
        settled++;
        this.deps.onSettled?.(a.id);
      }
    }
    return settled;
  }
}
