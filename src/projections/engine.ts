import { randomUUID } from 'node:crypto';
import { BehaviorSubject, filter, firstValueFrom, map, of, timeout } from 'rxjs';
import { isBackendDown } from '../backend-errors.js';
import { batcher } from '../concurrency/batcher.js';
import { type EventStore, type Position, type RecordedEvent, START, comparePositions, formatPosition } from '../eventstore/port.js';
import { type Logger, silentLogger } from '../logger.js';
import type { Db } from '../sql/db.js';
import { spacedNotifier } from '../sql/notifier.js';
import { type Checkpoint, advanceCheckpoints, ensureCheckpoints, lockCheckpoint, readCheckpoints } from './checkpoints.js';
import { Leadership } from './leadership.js';
import { type Projection, eventsFor } from './projection.js';
import { type RebuildProgress, rebuildProjection } from './rebuild.js';
import { RecentLog } from './recent-log.js';

/** A projection's rows and checkpoint are made again from the event log after a crash: their commit need not wait for the disk. */
const REBUILDABLE = { rebuildable: true } as const;

const PROGRESS_CHANNEL = 'crm_projection_progress';

export interface EngineOptions {
  store: EventStore;
  db: Db;
  projections: Projection[];
  logger?: Logger;
  batchSize?: number;
  /** Fallback poll of the log when no wake-up arrives (ms). */
  pollMs?: number;
  /** How often a standby instance tries to take over (ms). */
  standbyRetryMs?: number;
}

export interface ProjectionStatus {
  name: string;
  leader: boolean;
  checkpoint: string;
  eventsApplied: number;
  lagEvents: number;
  lagMs: number;
  caughtUp: boolean;
  lastError: string | null;
  rebuilding: RebuildProgress | null;
}

interface Runner {
  projection: Projection;
  /** Where this engine has read the log up to (ahead of `persisted` over batches the projection ignores). */
  position: Position;
  /** The checkpoint as this engine last wrote or read it: the fence compares the stored one with it. */
  persisted: Position;
  persistedAt: number;
  lastError: string | null;
  rebuilding: RebuildProgress | null;
}

/** One projection's batch, to be committed together with the others' that are ready at the same moment. */
interface Commit {
  r: Runner;
  from: Position;
  to: Position;
  events: RecordedEvent[];
  /** null: committed; a position: someone else had moved the checkpoint there, nothing was applied. */
  resolve: (stale: Position | null) => void;
  reject: (err: unknown) => void;
}

const LAG_CAP = 100_000;
/** The longest pause between retries of a failing batch (ms). */
const MAX_RETRY_MS = 1000;
/**
 * A checkpoint over events a projection ignores is written at most once per period of this length (ms). The
 * periods are the same for every projection, so that the idle ones fall due together and share a transaction.
 */
const IDLE_CHECKPOINT_MS = 250;
/** How many projections' batches one transaction commits at most. */
const MAX_COMMITS_TOGETHER = 64;
/**
 * After a batch that was not full, while nobody waits for the read models, a loop lets the log fill for this
 * long before reading again: fewer, larger batches (each costs a read, a horizon and a transaction). A caller
 * of waitFor ends the pause at once.
 */
const PACE_MS = 20;
/** How many of the events read lately are kept for loops that lag behind the others. */
const RECENT_EVENTS = 5000;
/** The least time between two progress notifications (ms). */
const NOTICE_SPACING_MS = 10;

/**
 * Runs projections: catch up from the stored checkpoint, then follow the log live (woken by the store's
 * subscription, with a poll as fallback). Each batch writes its rows and its checkpoint in one transaction
 * that first locks the checkpoint row: two instances can never apply the same events, whatever the
 * advisory-lock leadership believes.
 */
export class ProjectionEngine {
  readonly checkpoints$ = new BehaviorSubject<ReadonlyMap<string, Position>>(new Map());
  private readonly runners: Map<string, Runner>;
  private readonly leadership: Leadership;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private running = false;
  private loops: Promise<void>[] = [];
  private wakers = new Set<() => void>();
  /** Loops pausing between batches: woken by a waitFor caller, not by appends. */
  private pacers = new Set<() => void>();
  /** Counts wake-ups, so that a loop can tell one came while it was reading. */
  private wakeups = 0;
  /** Tells this instance's progress notifications from other instances'. */
  private readonly instanceId = randomUUID();
  private cleanups: (() => Promise<void>)[] = [];
  private refreshTimer: NodeJS.Timeout | null = null;
  private waiters = 0;
  /** Tells other instances (their waitFor) that checkpoints moved. */
  private readonly progressNotice: ReturnType<typeof spacedNotifier>;
  private readonly reads = new Map<string, Promise<RecordedEvent[]>>();
  private readonly recent = new RecentLog(RECENT_EVENTS);
  /**
   * Loops that read the same batch resume together, and their commits go in one transaction: on a send, the
   * activities and the quota units, and the checkpoints of the projections that had nothing to do, cost one
   * BEGIN, one checkpoint statement and one COMMIT between them instead of one each.
   */
  private readonly commits: ReturnType<typeof batcher<Commit>>;

  constructor(private readonly opts: EngineOptions) {
    const names = opts.projections.map((p) => p.name);
    if (new Set(names).size !== names.length) throw new Error('projection names must be unique');
    this.runners = new Map(
      opts.projections.map((p) => [
        p.name,
        { projection: p, position: START, persisted: START, persistedAt: 0, lastError: null, rebuilding: null },
      ]),
    );
    this.logger = opts.logger ?? silentLogger;
    this.progressNotice = spacedNotifier(opts.db, PROGRESS_CHANNEL, this.instanceId, NOTICE_SPACING_MS);
    this.commits = batcher<Commit>((items) => this.commitTogether(items), {
      maxInFlight: opts.db.kind === 'pglite' ? 1 : 2,
      maxItems: MAX_COMMITS_TOGETHER,
      // PGlite runs in this thread: loops woken beside each other resume in separate callbacks (see `batcher`).
      start: opts.db.kind === 'pglite' ? 'immediate' : 'microtask',
    });
    this.batchSize = opts.batchSize ?? 500;
    this.pollMs = opts.pollMs ?? 1000;
    this.leadership = new Leadership(
      opts.db,
      names,
      opts.standbyRetryMs ?? 1000,
      (err) => this.logger.warn('projection leadership session lost; standing by until the database answers', { error: err }),
      () => this.logger.info('projection leadership session re-established'),
      () => this.wakeLoops(),
    );
  }

  get projectionNames(): string[] {
    return [...this.runners.keys()];
  }

  isLeader(name: string): boolean {
    return this.leadership.isLeader(name);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await ensureCheckpoints(this.opts.db, this.projectionNames);
    await this.refreshCheckpoints();
    const wakeAll = () => this.wakeLoops();
    this.cleanups.push(await this.opts.store.subscribe(wakeAll));
    // Another instance's progress moves our waitFor callers along.
    this.cleanups.push(
      await this.opts.db.listen(PROGRESS_CHANNEL, (payload) => {
        if (payload !== this.instanceId) void this.refreshCheckpoints().catch(() => {});
      }),
    );
    this.leadership.start();
    this.loops = [...this.runners.values()].map((r) => this.runLoop(r));
  }

  /** Stops at a checkpoint: the batch in flight commits, then every loop ends. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeLoops();
    await Promise.all(this.loops);
    this.loops = [];
    await this.leadership.stop();
    for (const c of this.cleanups.splice(0)) await c().catch(() => {});
    await this.progressNotice.settled();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
  }

  /**
   * Resolves true once every projection (or the named ones) has applied the event at `position`, false after
   * `timeoutMs`. Watches the stored checkpoints, so it also works when another instance leads.
   */
  async waitFor(position: Position, options: { timeoutMs?: number; projections?: string[] } = {}): Promise<boolean> {
    const names = options.projections ?? this.projectionNames;
    const reached = (m: ReadonlyMap<string, Position>) =>
      names.every((n) => {
        const p = m.get(n);
        return p !== undefined && comparePositions(p, position) >= 0;
      });
    if (reached(this.checkpoints$.value)) return true;
    this.waiters++;
    for (const w of this.pacers) w();
    this.ensureRefreshing();
    try {
      return await firstValueFrom(
        this.checkpoints$.pipe(
          filter(reached),
          map(() => true),
          timeout({ first: options.timeoutMs ?? 5000, with: () => of(false) }),
        ),
      );
    } finally {
      this.waiters--;
    }
  }

  async status(): Promise<ProjectionStatus[]> {
    const stored = new Map((await readCheckpoints(this.opts.db)).map((c) => [c.name, c]));
    const out: ProjectionStatus[] = [];
    for (const [name, r] of this.runners) {
      const cp: Checkpoint | undefined = stored.get(name);
      const position = cp?.position ?? START;
      const lagEvents = await this.opts.store.countAfter(position, LAG_CAP);
      let lagMs = 0;
      if (lagEvents > 0) {
        const oldest = this.opts.store.oldestAfter
          ? await this.opts.store.oldestAfter(position)
          : ((await this.opts.store.readAll({ after: position, maxCount: 1 }))[0]?.recordedAt ?? null);
        if (oldest) lagMs = Math.max(0, Date.now() - oldest.getTime());
      }
      out.push({
        name,
        leader: this.leadership.isLeader(name),
        checkpoint: formatPosition(position),
        eventsApplied: cp?.eventsApplied ?? 0,
        lagEvents,
        lagMs,
        caughtUp: lagEvents === 0,
        lastError: r.lastError,
        rebuilding: r.rebuilding,
      });
    }
    return out;
  }

  /** Why `rebuild(name)` would refuse at once, or null: asked without I/O, so a caller can answer 404/409 first. */
  rebuildRefusal(name: string): 'unknown' | 'busy' | null {
    const r = this.runners.get(name);
    return !r ? 'unknown' : r.rebuilding ? 'busy' : null;
  }

  /** Rebuilds one projection from the log into tables aside, then swaps them in. */
  async rebuild(name: string, onProgress?: (p: RebuildProgress) => void): Promise<void> {
    const refusal = this.rebuildRefusal(name);
    if (refusal === 'unknown') throw new Error(`unknown projection ${name}`);
    if (refusal === 'busy') throw new Error(`projection ${name} is already being rebuilt`);
    const r = this.runners.get(name)!;
    r.rebuilding = { phase: 'building', eventsApplied: 0, eventsRead: 0, position: formatPosition(START) };
    const started = performance.now();
    let applied = 0;
    try {
      await rebuildProjection({
        db: this.opts.db,
        store: this.opts.store,
        projection: r.projection,
        batchSize: Math.max(this.batchSize, 2000),
        onProgress: (p) => {
          r.rebuilding = p;
          applied = p.eventsApplied;
          onProgress?.(p);
        },
      });
    } finally {
      r.rebuilding = null;
    }
    this.logger.info('projection rebuilt', { projection: name, eventsApplied: applied, ms: Math.round(performance.now() - started) });
    await this.refreshCheckpoints();
    this.wakeLoops();
  }

  // -------------------------------------------------------------------------------------------------------

  private async runLoop(r: Runner): Promise<void> {
    let failures = 0;
    while (this.running) {
      if (!this.leadership.isLeader(r.projection.name)) {
        await this.sleep(200);
        continue;
      }
      try {
        const wakeups = this.wakeups;
        const { read, persistInMs } = await this.step(r);
        if (failures > 0) this.logger.info('projection batches succeed again', { projection: r.projection.name, failures });
        failures = 0;
        r.lastError = null;
        // A wake-up during the step (an append its read could not see yet) means read again, not sleep.
        if (read === 0) {
          if (this.wakeups === wakeups) await this.sleep(Math.min(this.pollMs, persistInMs ?? this.pollMs));
        } else if (read < this.batchSize && this.waiters === 0) await this.pace();
      } catch (err) {
        failures++;
        r.lastError = err instanceof Error ? err.message : String(err);
        // Once, then now and then: through an outage every loop fails every second.
        if (failures === 1 || failures % 60 === 0)
          this.logger.error('projection batch failed; retrying', { projection: r.projection.name, error: err, failures });
        // Capped at 1 s: after an outage the read models are current again soon after the database is back.
        await this.sleep(Math.min(MAX_RETRY_MS, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /**
   * One batch. Returns how many events it read (0: caught up) and, when caught up with a checkpoint not yet
   * persisted, how soon it is due.
   */
  private async step(r: Runner): Promise<{ read: number; persistInMs?: number }> {
    const p = r.projection;
    // Taken now: a refresh may move the runner while the batch is read (leadership lost meanwhile, another
    // instance moved on), and the batch must be fenced against where it was read from, not against that.
    const from = r.persisted;
    const at = r.position;
    const batch = await this.read(at);
    if (batch.length === 0) {
      if (comparePositions(at, from) !== 0) {
        // Only skipped events since the last write: persisting that at every wake-up cost a transaction per
        // projection per append under load. This process's waitFor has the position already; other instances
        // see it within IDLE_CHECKPOINT_MS.
        const due = idleCheckpointDue(r.persistedAt) - Date.now();
        if (due > 0) return { read: 0, persistInMs: due };
        await this.commit(r, from, at, []);
      }
      return { read: 0 };
    }
    const last = batch[batch.length - 1]!.position;
    const relevant = eventsFor(p, batch);
    if (relevant.length === 0 && Date.now() < idleCheckpointDue(r.persistedAt)) {
      // Nothing to write: move on in memory (waitFor in this process sees it) and persist a little later.
      if (r.position === at) {
        r.position = last;
        this.publish(p.name, last);
      }
      return { read: batch.length };
    }
    await this.commit(r, from, last, relevant);
    return { read: batch.length };
  }

  /** Applies events and moves the checkpoint in one transaction, fenced by the checkpoint row's lock. */
  private async commit(r: Runner, from: Position, to: Position, events: RecordedEvent[]): Promise<void> {
    const stale = await new Promise<Position | null>((resolve, reject) => this.commits.add({ r, from, to, events, resolve, reject }));
    const now = stale ?? to;
    r.position = now;
    r.persisted = now;
    r.persistedAt = Date.now();
    this.publish(r.projection.name, now);
    if (!stale) this.announceProgress();
  }

  /**
   * Several projections' batches in one transaction. The checkpoints move first, fenced: a projection whose
   * checkpoint someone else moved since its batch was read (another instance, a rebuild's swap) applies nothing
   * and re-reads from where it now is; never back. When the transaction fails, each batch goes again in one of
   * its own, so that one projection's failure is its own; not when the database is gone, which fails them all
   * alike (each loop backs off), and one attempt per projection would only queue more connects at a dead pool.
   */
  private async commitTogether(items: Commit[]): Promise<void> {
    try {
      const stale = await this.opts.db.transaction(async (tx) => {
        const forward = items.filter((c) => comparePositions(c.to, c.from) >= 0);
        const moved = await advanceCheckpoints(
          tx,
          forward.map((c) => ({ name: c.r.projection.name, from: c.from, to: c.to, applied: c.events.length })),
        );
        const out: (Position | null)[] = [];
        for (const c of items) {
          const name = c.r.projection.name;
          if (!moved.has(name)) out.push((await lockCheckpoint(tx, name)).position);
          else {
            if (c.events.length > 0) await c.r.projection.apply(c.events, { tx, table: (t) => t });
            out.push(null);
          }
        }
        return out;
      }, REBUILDABLE);
      items.forEach((c, i) => c.resolve(stale[i]!));
    } catch (err) {
      if (items.length === 1 || isBackendDown(err)) for (const c of items) c.reject(err);
      else await Promise.all(items.map((c) => this.commitTogether([c])));
    }
  }

  /**
   * Loops at the same position share one read of the log, and a loop at a position the engine has read past
   * lately is served from memory.
   */
  private read(after: Position): Promise<RecordedEvent[]> {
    const held = this.recent.after(after, this.batchSize);
    if (held) return Promise.resolve(held);
    const key = formatPosition(after);
    let pending = this.reads.get(key);
    if (!pending) {
      pending = this.opts.store
        .readAll({ after, maxCount: this.batchSize })
        .then((events) => {
          this.recent.add(after, events);
          return events;
        })
        .finally(() => this.reads.delete(key));
      this.reads.set(key, pending);
    }
    return pending;
  }

  private publish(name: string, position: Position): void {
    const next = new Map(this.checkpoints$.value);
    const prev = next.get(name);
    // Monotonic: "has reached" never goes back (a standby's stored view may trail this engine's memory).
    if (prev && comparePositions(prev, position) >= 0) return;
    next.set(name, position);
    this.checkpoints$.next(next);
  }

  private async refreshCheckpoints(): Promise<void> {
    for (const cp of await readCheckpoints(this.opts.db)) {
      const r = this.runners.get(cp.name);
      if (!r) continue;
      // A standby follows the stored checkpoint, so that it resumes from there when it takes over.
      if (!this.leadership.isLeader(cp.name)) {
        r.position = cp.position;
        r.persisted = cp.position;
      }
      this.publish(cp.name, cp.position);
    }
  }

  /** While someone waits, poll the stored checkpoints too: NOTIFY is a hint, not a guarantee. */
  private ensureRefreshing(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setInterval(() => {
      if (this.waiters === 0) {
        clearInterval(this.refreshTimer!);
        this.refreshTimer = null;
        return;
      }
      void this.refreshCheckpoints().catch(() => {});
    }, 50);
  }

  private announceProgress(): void {
    void this.progressNotice.run();
  }

  private wakeLoops(): void {
    this.wakeups++;
    for (const w of this.wakers) w();
    this.wakers.clear();
    if (!this.running) for (const w of this.pacers) w();
  }

  /** PACE_MS, or less if someone starts waiting for the read models (or the engine stops). */
  private pace(): Promise<void> {
    return this.sleep(PACE_MS, this.pacers);
  }

  /** `ms`, or less if one of `wakers` is called (by default: new events, or the engine stopping). */
  private sleep(ms: number, wakers = this.wakers): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      wakers.add(done);
    });
  }
}

/** When a checkpoint last written at `persistedAt` is next written over ignored events: the next period's start. */
function idleCheckpointDue(persistedAt: number): number {
  return (Math.floor(persistedAt / IDLE_CHECKPOINT_MS) + 1) * IDLE_CHECKPOINT_MS;
}
