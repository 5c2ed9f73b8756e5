import type { Decider, DomainEvent } from '../domain/decider.js';
import { type EventStore, type RecordedEvent, StreamNotFoundError } from '../eventstore/port.js';

interface Entry {
  state: unknown;
  revision: number | null;
}

export interface CachedLoad<S> {
  streamName: string;
  decider: Pick<Decider<unknown, S, DomainEvent>, 'initialState' | 'evolve'>;
}

type States<T extends readonly CachedLoad<unknown>[]> = { [K in keyof T]: T[K] extends CachedLoad<infer S> ? S : never };

const MAX_ENTRIES = 20_000;

/**
 * Folded aggregates kept in memory with their revision, caught up on every load by one read of what is
 * newer: the answer is as fresh as reading the streams whole, at the cost of one query for several streams.
 * Used for what every send reads (outbox, allowlist, rules, secret). States are immutable: evolve makes new ones.
 */
export class AggregateCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly store: EventStore) {}

  async load<const T extends readonly CachedLoad<unknown>[]>(loads: T): Promise<States<T>> {
    const current = loads.map((l) => this.entries.get(l.streamName) ?? { state: l.decider.initialState(), revision: null });
    const requests = loads.map((l, i) => ({ streamName: l.streamName, fromRevision: current[i]!.revision === null ? 0 : current[i]!.revision! + 1 }));
    const newer = await this.readForward(requests);
    return loads.map((l, i) => {
      const events = newer.get(l.streamName) ?? [];
      let entry = current[i]!;
      if (events.length > 0) {
        const state = events.reduce((s, e) => l.decider.evolve(s, { type: e.type, data: e.data } as DomainEvent), entry.state);
        entry = { state, revision: events[events.length - 1]!.revision };
        this.remember(l.streamName, entry);
      }
      return entry.state;
    }) as States<T>;
  }

  /** The state as last caught up, without a read (to guess which other streams a load should include). */
  peek<S>(streamName: string): S | undefined {
    return this.entries.get(streamName)?.state as S | undefined;
  }

  private async readForward(requests: { streamName: string; fromRevision: number }[]): Promise<Map<string, RecordedEvent[]>> {
    if (this.store.readStreamsForward) return this.store.readStreamsForward(requests);
    const out = new Map<string, RecordedEvent[]>();
    await Promise.all(
      requests.map(async (r) => {
        try {
          out.set(r.streamName, await this.store.readStream(r.streamName, { fromRevision: r.fromRevision }));
        } catch (err) {
          if (!(err instanceof StreamNotFoundError)) throw err;
          out.set(r.streamName, []);
        }
      }),
    );
    return out;
  }

  private remember(streamName: string, entry: Entry) {
    this.entries.delete(streamName);
    this.entries.set(streamName, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }
}
