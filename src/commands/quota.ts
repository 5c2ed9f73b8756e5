import {
  type QuotaBucketCommand,
  type QuotaBucketEvent,
  type QuotaBucketState,
  bucketStream,
  evolveBucket,
  foldBucketInto,
  quotaBatchDecider,
  limitClock,
  quotaBucketDecider,
  type ReserveLimits,
} from '../domain/quota-bucket.js';
import {
  type HeldUnit,
  type LimitRefusal,
  LimitWindows,
  type QuotaLimit,
  checkLimits,
  nextPeriodStart,
  tightest,
} from '../domain/quota-limits.js';
import { localDay } from '../domain/time-window.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import { type Loaded, handleCommand } from './handle-command.js';

export interface BucketKey {
  companyId: string;
  credentialId: string;
  day: string;
}

interface Outcome {
  reserved: boolean;
  position: Position | null;
  /** The day's bucket is closed (a later day has begun for this credential): reserve on the next day. */
  closed: boolean;
  /** Why a reservation with limits was not taken, and when it could be. */
  refusal: LimitRefusal | null;
}

interface Pending {
  command: QuotaBucketCommand;
  /** The credential's time zone, when the caller gave it: a refusal by the day cap then says when it reopens. */
  tz?: string;
  resolve: (r: Outcome) => void;
  reject: (err: unknown) => void;
}

/** Limits beyond the day's cap, with the recipient they count and the credential's time zone. */
export interface ReserveLimitsOption {
  /** The sending outbox's own (with its channel's defaults); the credential's shared ones are added to them. */
  limits: readonly QuotaLimit[];
  recipient: string;
  tz: string;
}

/** What the live outboxes on a credential hold it to (read model): the smallest cap, and the tightest limits. */
export type SharedQuotaLookup = (key: BucketKey) => Promise<{ cap: number | null; limits: readonly QuotaLimit[] }>;

/** How many local days before `now`'s a limit reaches (a rolling 24 hours spans two around a DST change). */
const DAYS_BACK: Record<QuotaLimit['per'], number> = { minute: 0, hour: 0, day: 0, '24h': 2, week: 6, '7d': 8 };

const shiftDay = (ymd: string, days: number) =>
  new Date(Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(5, 7)) - 1, Number(ymd.slice(8, 10))) + days * 86_400_000)
    .toISOString()
    .slice(0, 10);

const MAX_CACHED_BUCKETS = 10_000;
const CONFLICT_ATTEMPTS = 1000;
/** A day found closed moves a reservation to the next one; more than this many moves means clocks far apart. */
const MAX_DAY_MOVES = 3;

/**
 * Reserves and refunds quota units. Within this process, the work for one bucket is serialised and batched:
 * every reservation waiting while an append is in flight goes into the next append (group commit), so the
 * process never fights itself; optimistic revisions arbitrate only between processes. The bucket's folded
 * state is cached with its revision and the batch is appended on that revision without reading first: the
 * exact expected revision proves the cache current, and only a conflict (another process reserved) costs a
 * catch-up read of what is newer.
 */
export class QuotaReserver {
  private readonly queues = new Map<string, Pending[]>();
  private readonly running = new Set<string>();
  private readonly cache = new Map<string, Loaded<QuotaBucketState>>();
  /** The units of closed days, final but for refunds (counted late: the cautious side). */
  private readonly closedUnits = new Map<string, HeldUnit[]>();

  /**
   * `shared`: what the outboxes sharing a bucket's credential hold it to. Asked once per batch, not once per
   * send: on a hot credential that is one query for dozens of reservations.
   */
  constructor(
    private readonly store: EventStore,
    private readonly shared: SharedQuotaLookup = async () => ({ cap: null, limits: [] }),
  ) {}

  /**
   * A unit of the credential's day, within `cap` and, when given, every limit (the outbox's and the credential's
   * shared ones). Limits that reach back over earlier days first close those days (no reservation lands there
   * after), so their units are final and this day's bucket is the one place where processes contend: exact
   * across processes, as the day cap is. A day found closed (another process's clock has moved on) sends the
   * reservation to the next day; `day` says where it landed, for the refund.
   */
  async reserve(
    key: BucketKey,
    activityId: string,
    cap: number,
    now: Date,
    limits?: ReserveLimitsOption,
  ): Promise<Outcome & { day: string }> {
    const nowIso = now.toISOString();
    for (let day = key.day, moves = 0; ; day = shiftDay(day, 1), moves++) {
      const k = { ...key, day };
      const r = await this.enqueue(
        k,
        {
          type: 'Reserve',
          ...k,
          requests: [{ activityId, cap, ...(limits ? { recipient: limits.recipient } : {}) }],
          now: nowIso,
          // The earlier days' units are added per batch, once the credential's shared limits are known.
          ...(limits ? { limits: { limits: limits.limits, prior: [], tz: limits.tz } } : {}),
        },
        limits?.tz,
      );
      if (r.reserved || !r.closed || moves >= MAX_DAY_MOVES) return { ...r, day };
    }
  }

  /** Closes a day (once: a closed day stays so) and gives its units. */
  private async closeDay(key: BucketKey, now: Date): Promise<HeldUnit[]> {
    const stream = bucketStream(key.companyId, key.credentialId, key.day);
    const known = this.closedUnits.get(stream);
    if (known) return known;
    const { companyId, credentialId, day } = key;
    const close = { type: 'Close' as const, companyId, credentialId, day, now: now.toISOString() };
    const r = await handleCommand(this.store, stream, quotaBucketDecider, close);
    const units = [...r.state.units.values()];
    this.closedUnits.set(stream, units);
    if (this.closedUnits.size > MAX_CACHED_BUCKETS) this.closedUnits.delete(this.closedUnits.keys().next().value!);
    return units;
  }

  /** The units of the credential's closed days before `key.day` that limits reaching `back` days before now's take. */
  private async priorUnits(key: BucketKey, now: Date, tz: string, back: number): Promise<HeldUnit[]> {
    const today = localDay(now, tz);
    const earlier: string[] = [];
    for (let d = shiftDay(key.day, -1); d >= shiftDay(today, -back); d = shiftDay(d, -1)) earlier.push(d);
    return (await Promise.all(earlier.map((d) => this.closeDay({ ...key, day: d }, now)))).flat();
  }

  refund(key: BucketKey, activityId: string, now: Date): Promise<Outcome> {
    return this.enqueue(key, { type: 'Refund', ...key, activityId, now: now.toISOString() });
  }

  private enqueue(key: BucketKey, command: QuotaBucketCommand, tz?: string) {
    const stream = bucketStream(key.companyId, key.credentialId, key.day);
    return new Promise<Outcome>((resolve, reject) => {
      const q = this.queues.get(stream) ?? [];
      q.push({ command, ...(tz ? { tz } : {}), resolve, reject });
      this.queues.set(stream, q);
      if (!this.running.has(stream)) void this.drain(stream);
    });
  }

  private async drain(stream: string): Promise<void> {
    this.running.add(stream);
    try {
      for (;;) {
        const batch = this.queues.get(stream) ?? [];
        this.queues.delete(stream);
        if (batch.length === 0) return;
        try {
          await this.apply(stream, batch);
        } catch (err) {
          this.cache.delete(stream);
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.running.delete(stream);
    }
  }

  private async catchUp(stream: string): Promise<Loaded<QuotaBucketState>> {
    const cached = this.cache.get(stream) ?? { state: quotaBucketDecider.initialState(), revision: null };
    const newer = await readStreamIfAny(this.store, stream, { fromRevision: cached.revision === null ? 0 : cached.revision + 1 });
    if (newer === null) return { state: quotaBucketDecider.initialState(), revision: null };
    if (newer.length === 0) return cached;
    const state = evolveBucket(
      cached.state,
      newer.map((e) => ({ type: e.type, data: e.data }) as QuotaBucketEvent),
    );
    return { state, revision: newer[newer.length - 1]!.revision };
  }

  private remember(stream: string, entry: Loaded<QuotaBucketState>) {
    this.cache.delete(stream);
    this.cache.set(stream, entry);
    if (this.cache.size > MAX_CACHED_BUCKETS) this.cache.delete(this.cache.keys().next().value!);
  }

  /**
   * The batch as it is decided: each reservation's cap lowered to the credential's shared cap and its limits
   * tightened by the shared ones (read once for the batch), with the units of the earlier days they reach. The
   * reservations under the same limits become one command (decided in order, as they came), so that the
   * windows are counted once per batch, not once per send.
   */
  private async prepare(batch: Pending[]): Promise<{ decided: QuotaBucketCommand[]; asDecided: QuotaBucketCommand[] }> {
    const first = batch.find((p) => p.command.type === 'Reserve')?.command;
    if (!first) return { decided: batch.map((p) => p.command), asDecided: batch.map((p) => p.command) };
    const shared = await this.shared(first);
    const cap = shared.cap ?? Number.POSITIVE_INFINITY;
    const prior = new Map<string, Promise<HeldUnit[]>>();
    const asDecided = await Promise.all(
      batch.map(async ({ command: c }): Promise<QuotaBucketCommand> => {
        if (c.type !== 'Reserve') return c;
        const requests = c.requests.map((r) => ({ ...r, cap: Math.min(r.cap, cap) }));
        if (!c.limits) return { ...c, requests };
        const limits = tightest(c.limits.limits, shared.limits);
        if (limits.length === 0) return { ...c, requests, limits: undefined };
        const now = new Date(c.now);
        const back = Math.max(...limits.map((l) => DAYS_BACK[l.per]));
        const reach = `${localDay(now, c.limits.tz)}/${back}/${c.limits.tz}`;
        const key = { companyId: c.companyId, credentialId: c.credentialId, day: c.day };
        if (!prior.has(reach)) prior.set(reach, this.priorUnits(key, now, c.limits.tz, back));
        return { ...c, requests, limits: { limits, prior: await prior.get(reach)!, tz: c.limits.tz } };
      }),
    );
    // Consecutive reservations under the same limits and prior units, as one (the latest clock: limits take a
    // unit at the latest time anyway); the others as they are.
    const decided: QuotaBucketCommand[] = [];
    for (const c of asDecided) {
      const last = decided[decided.length - 1];
      if (c.type === 'Reserve' && c.limits && last?.type === 'Reserve' && last.limits && sameLimits(last.limits, c.limits)) {
        decided[decided.length - 1] = { ...last, requests: [...last.requests, ...c.requests], now: c.now > last.now ? c.now : last.now };
      } else decided.push(c);
    }
    return { decided, asDecided };
  }

  /**
   * Decides the whole batch on the cached state and appends it at once; on a conflict (another process reserved
   * first) the loop catches up and decides again. A refusal (bucket full) on the cached state is confirmed on the
   * stream as it is: another process may have refunded a unit since this one cached it.
   */
  private async apply(stream: string, batch: Pending[]): Promise<void> {
    const { decided, asDecided } = await this.prepare(batch);
    const r = await handleCommand(
      this.store,
      stream,
      quotaBatchDecider,
      { batch: decided },
      {
        // A bucket this process has not seen yet may exist already (another process, or before a restart).
        known: this.cache.get(stream),
        load: () => this.catchUp(stream),
        // The cached state is this reserver's own: folded in place, since copying a hot bucket's sets per batch
        // costs as much as the batch.
        evolve: foldBucketInto,
        confirmNoChange: true,
        // Every process's batches on a hot bucket collide; each retry decides on what the others wrote, so the
        // loop ends, but it may take more turns than a person's command would be given.
        maxAttempts: CONFLICT_ATTEMPTS,
      },
    );
    this.remember(stream, { state: r.state, revision: r.revision });
    const refusals = new Refusals(r.state);
    batch.forEach((p, i) => {
      const c = asDecided[i]!;
      const reserved = c.type === 'Reserve' ? r.state.holders.has(c.requests[0]!.activityId) : false;
      p.resolve({ reserved, position: r.position, closed: r.state.closed, refusal: reserved ? null : refusals.of(c, p.tz) });
    });
  }
}

const sameLimits = (a: ReserveLimits, b: ReserveLimits) =>
  a.prior === b.prior && a.tz === b.tz && a.limits.length === b.limits.length && a.limits.every((l, i) => sameLimit(l, b.limits[i]!));
const sameLimit = (a: QuotaLimit, b: QuotaLimit) => a.max === b.max && a.per === b.per && a.unit === b.unit;

/**
 * Which limit refused each reservation of a batch, on the state the batch ended in (the day cap when none of the
 * others did). The windows are counted once per set of limits and each limit's reopening found once, since
 * neither depends on the request: on a full hot bucket most of a batch is refused.
 */
class Refusals {
  private readonly seen = new Map<
    string,
    { prior: readonly HeldUnit[]; units: HeldUnit[]; windows: LimitWindows; retry: Map<QuotaLimit, Date> }
  >();
  constructor(private readonly state: QuotaBucketState) {}

  of(command: QuotaBucketCommand, tz: string | undefined): LimitRefusal | null {
    if (command.type !== 'Reserve' || this.state.closed) return null;
    const request = command.requests[0]!;
    const byDayCap = (now: Date, zone: string): LimitRefusal => ({
      limit: { max: request.cap, per: 'day', unit: 'sends' },
      retryAt: nextPeriodStart('day', now, zone),
    });
    const limits = command.limits;
    if (!limits) return tz ? byDayCap(new Date(command.now), tz) : null;
    const key = `${limits.tz}|${limits.limits.map((l) => `${l.max}/${l.per}/${l.unit}`).join(',')}`;
    let w = this.seen.get(key);
    if (!w || w.prior !== limits.prior) {
      const units = [...limits.prior, ...this.state.units.values()];
      const now = limitClock(command.now, units);
      w = { prior: limits.prior, units, windows: new LimitWindows(limits.limits, units, now, limits.tz), retry: new Map() };
      this.seen.set(key, w);
    }
    const recipient = request.recipient ?? `activity:${request.activityId}`;
    const limit = w.windows.refusing(recipient);
    if (!limit) return byDayCap(w.windows.now, limits.tz);
    let retryAt = w.retry.get(limit);
    if (!retryAt) {
      retryAt = checkLimits([limit], w.units, { recipient, now: w.windows.now }, limits.tz)!.retryAt;
      w.retry.set(limit, retryAt);
    }
    return { limit, retryAt };
  }
}
