import { type QuotaBucketCommand, type QuotaBucketEvent, type QuotaBucketState, bucketStream, decideBucketBatch, evolveBucket, foldBucketInto, quotaBucketDecider } from '../domain/quota-bucket.js';
import { type EventStore, type Position, StreamNotFoundError, WrongExpectedRevisionError } from '../eventstore/port.js';

export interface BucketKey {
  companyId: string;
  credentialId: string;
  day: string;
}

interface Pending {
  command: QuotaBucketCommand;
  resolve: (r: { reserved: boolean; position: Position | null }) => void;
  reject: (err: unknown) => void;
}

const MAX_CACHED_BUCKETS = 10_000;

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
  private readonly cache = new Map<string, { state: QuotaBucketState; revision: number | null }>();

  /**
   * `sharedCap`: the smallest cap of the outboxes sharing a bucket's credential (null: none known). Asked once
   * per batch, not once per send: on a hot credential that is one query for dozens of reservations.
   */
  constructor(
    private readonly store: EventStore,
    private readonly sharedCap: (key: BucketKey) => Promise<number | null> = async () => null,
  ) {}

  reserve(key: BucketKey, activityId: string, cap: number, now: Date): Promise<{ reserved: boolean; position: Position | null }> {
    return this.enqueue(key, { type: 'Reserve', ...key, requests: [{ activityId, cap }], now: now.toISOString() });
  }

  refund(key: BucketKey, activityId: string, now: Date): Promise<{ reserved: boolean; position: Position | null }> {
    return this.enqueue(key, { type: 'Refund', ...key, activityId, now: now.toISOString() });
  }

  private enqueue(key: BucketKey, command: QuotaBucketCommand) {
    const stream = bucketStream(key.companyId, key.credentialId, key.day);
    return new Promise<{ reserved: boolean; position: Position | null }>((resolve, reject) => {
      const q = this.queues.get(stream) ?? [];
      q.push({ command, resolve, reject });
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

  private async catchUp(stream: string): Promise<{ state: QuotaBucketState; revision: number | null }> {
    const cached = this.cache.get(stream) ?? { state: quotaBucketDecider.initialState(), revision: null };
    try {
      const newer = await this.store.readStream(stream, { fromRevision: cached.revision === null ? 0 : cached.revision + 1 });
      if (newer.length === 0) return cached;
      const state = evolveBucket(cached.state, newer.map((e) => ({ type: e.type, data: e.data }) as QuotaBucketEvent));
      return { state, revision: newer[newer.length - 1]!.revision };
    } catch (err) {
      if (err instanceof StreamNotFoundError) return { state: quotaBucketDecider.initialState(), revision: null };
      throw err;
    }
  }

  private remember(stream: string, entry: { state: QuotaBucketState; revision: number | null }) {
    this.cache.delete(stream);
    this.cache.set(stream, entry);
    if (this.cache.size > MAX_CACHED_BUCKETS) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Each reservation's cap lowered to the credential's shared cap, read once for the batch. */
  private async withSharedCap(batch: Pending[]): Promise<QuotaBucketCommand[]> {
    const first = batch.find((p) => p.command.type === 'Reserve')?.command;
    if (!first) return batch.map((p) => p.command);
    const shared = (await this.sharedCap(first)) ?? Number.POSITIVE_INFINITY;
    return batch.map(({ command: c }) => (c.type === 'Reserve' ? { ...c, requests: c.requests.map((r) => ({ ...r, cap: Math.min(r.cap, shared) })) } : c));
  }

  /** Decides the whole batch on the latest state and appends it at once; on a conflict, catches up and again. */
  private async apply(stream: string, batch: Pending[]): Promise<void> {
    const commands = await this.withSharedCap(batch);
    // A bucket this process has not seen yet may exist already (another process, or before a restart).
    const cached = this.cache.get(stream);
    let { state, revision } = cached ?? (await this.catchUp(stream));
    let fresh = !cached;
    for (;;) {
      const events = decideBucketBatch(commands, state).flat();
      if (events.length === 0 && !fresh) {
        // A refusal (bucket full) is only as good as the state it was decided on: another process may have
        // refunded a unit since this one cached it.
        ({ state, revision } = await this.catchUp(stream));
        fresh = true;
        continue;
      }
      let position: Position | null = null;
      let newRevision = revision;
      if (events.length > 0) {
        try {
          const r = await this.store.append(stream, events, revision === null ? 'no_stream' : revision);
          position = r.position;
          newRevision = r.nextExpectedRevision;
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError)) throw err;
          ({ state, revision } = await this.catchUp(stream)); // another process reserved first
          fresh = true;
          continue;
        }
      }
      // The cached state is this reserver's own: folded in place, since copying a hot bucket's sets per batch
      // costs as much as the batch.
      const next = foldBucketInto(state, events);
      this.remember(stream, { state: next, revision: newRevision });
      for (const p of batch) {
        const reserved = p.command.type === 'Reserve' ? next.holders.has(p.command.requests[0]!.activityId) : false;
        p.resolve({ reserved, position });
      }
      return;
    }
  }
}
