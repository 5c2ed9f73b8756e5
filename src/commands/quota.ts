import {
  type QuotaBucketCommand,
  type QuotaBucketEvent,
  type QuotaBucketState,
  bucketStream,
  evolveBucket,
  foldBucketInto,
  quotaBatchDecider,
  quotaBucketDecider,
} from '../domain/quota-bucket.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import { type Loaded, handleCommand } from './handle-command.js';

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
const CONFLICT_ATTEMPTS = 1000;

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

  /** Each reservation's cap lowered to the credential's shared cap, read once for the batch. */
  private async withSharedCap(batch: Pending[]): Promise<QuotaBucketCommand[]> {
    const first = batch.find((p) => p.command.type === 'Reserve')?.command;
    if (!first) return batch.map((p) => p.command);
    const shared = (await this.sharedCap(first)) ?? Number.POSITIVE_INFINITY;
    return batch.map(({ command: c }) =>
      c.type === 'Reserve' ? { ...c, requests: c.requests.map((r) => ({ ...r, cap: Math.min(r.cap, shared) })) } : c,
    );
  }

  /**
   * Decides the whole batch on the cached state and appends it at once; on a conflict (another process reserved
   * first) the loop catches up and decides again. A refusal (bucket full) on the cached state is confirmed on the
   * stream as it is: another process may have refunded a unit since this one cached it.
   */
  private async apply(stream: string, batch: Pending[]): Promise<void> {
    const commands = await this.withSharedCap(batch);
    const r = await handleCommand(
      this.store,
      stream,
      quotaBatchDecider,
      { batch: commands },
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
    for (const p of batch) {
      const reserved = p.command.type === 'Reserve' ? r.state.holders.has(p.command.requests[0]!.activityId) : false;
      p.resolve({ reserved, position: r.position });
    }
  }
}
