import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { RebuildProgress } from './rebuild.js';

/** A rebuild started over HTTP, as its status resource shows it. */
export interface RebuildJob {
  id: string;
  projection: string;
  status: 'running' | 'done' | 'failed';
  phase: RebuildProgress['phase'];
  eventsApplied: number;
  eventsRead: number;
  position: string;
  startedAt: Date;
  finishedAt: Date | null;
  error: string | null;
}

/** The jobs of this process kept for polling: the newest, at most this many. */
const KEPT = 100;

/**
 * Runs rebuilds in the background and keeps their status for polling. In this process's memory only: a job is
 * polled on the instance that started it (a rebuild itself is safe across instances, see rebuild.ts).
 */
export class RebuildJobs {
  private readonly jobs = new Map<string, RebuildJob>();

  constructor(
    private readonly now: () => Date,
    private readonly logger: Logger,
  ) {}

  start(projection: string, run: (onProgress: (p: RebuildProgress) => void) => Promise<void>): RebuildJob {
    const job: RebuildJob = {
      id: randomUUID(),
      projection,
      status: 'running',
      phase: 'building',
      eventsApplied: 0,
      eventsRead: 0,
      position: '0',
      startedAt: this.now(),
      finishedAt: null,
      error: null,
    };
    this.jobs.set(job.id, job);
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= KEPT) break;
      if (this.jobs.get(id)!.status !== 'running') this.jobs.delete(id);
    }
    run((p) => Object.assign(job, { phase: p.phase, eventsApplied: p.eventsApplied, eventsRead: p.eventsRead, position: p.position })).then(
      () => Object.assign(job, { status: 'done', phase: 'done', finishedAt: this.now() }),
      (err: unknown) => {
        // The cause goes to the log; the reply says only that it failed (a backend's message may say too much).
        this.logger.error('projection rebuild failed', { projection, job: job.id, error: err });
        Object.assign(job, { status: 'failed', finishedAt: this.now(), error: 'the rebuild failed (the service log has the cause)' });
      },
    );
    return job;
  }

  get(id: string): RebuildJob | undefined {
    return this.jobs.get(id);
  }
}
