import { type Decider, type DomainEvent, fold } from '../domain/decider.js';
import type { EventMetadata, EventStore, RecordedEvent } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import { type CommandResult, type Loaded, handleCommand } from './handle-command.js';

interface Entry {
  state: unknown;
  revision: number | null;
}

export interface CachedLoad<S> {
  streamName: string;
  decider: Pick<Decider<unknown, S, DomainEvent>, 'initialState' | 'evolve' | 'evolveMany'>;
}

type States<T extends readonly CachedLoad<unknown>[]> = { [K in keyof T]: T[K] extends CachedLoad<infer S> ? S : never };

const MAX_ENTRIES = 20_000;

/**
 * Folded aggregates kept in memory with their revision, caught up on every load by one read of what is
 * newer: the answer is as fresh as reading the streams whole, at the cost of one query for several streams.
 * Used for what every send reads (outbox, allowlist, rules, secret), and by the commands on the aggregates
 * that grow (allowlist, rules: `handle`), so that neither reads nor folds a stream whole again. States are
 * immutable: a catch-up folds the new events onto a copy (`fold`, once per catch-up, not per event).
 */
export class AggregateCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly store: EventStore) {}

  async load<const T extends readonly CachedLoad<unknown>[]>(loads: T): Promise<States<T>> {
    return (await this.catchUp(loads)).map((e) => e.state) as States<T>;
  }

  /**
   * `handleCommand` on the cached state: decided on it, appended with its exact revision (which proves it
   * current) and folded into it, so a command reads only what other writers appended since the last one.
   * A conflict means another writer (process) appended: the loop catches up and decides again.
   */
  async handle<C, S, E extends DomainEvent>(
    streamName: string,
    decider: Decider<C, S, E>,
    command: C,
    metadata: EventMetadata = {},
  ): Promise<CommandResult<S, E>> {
    const load = async () => (await this.catchUp([{ streamName, decider: decider as CachedLoad<S>['decider'] }]))[0] as Loaded<S>;
    const r = await handleCommand(this.store, streamName, decider, command, { metadata, load });
    if (r.events.length > 0) this.remember(streamName, { state: r.state, revision: r.revision });
    return r;
  }

  private async catchUp(loads: readonly CachedLoad<unknown>[]): Promise<Entry[]> {
    const current = loads.map((l) => this.entries.get(l.streamName) ?? { state: l.decider.initialState(), revision: null });
    const requests = loads.map((l, i) => ({
      streamName: l.streamName,
      fromRevision: current[i]!.revision === null ? 0 : current[i]!.revision! + 1,
    }));
    const newer = await this.readForward(requests);
    return loads.map((l, i) => {
      const events = newer.get(l.streamName) ?? [];
      let entry = current[i]!;
      if (events.length > 0) {
        const state = fold(
          l.decider,
          events.map((e) => ({ type: e.type, data: e.data }) as DomainEvent),
          entry.state,
        );
        entry = { state, revision: events[events.length - 1]!.revision };
        this.remember(l.streamName, entry);
      }
      return entry;
    });
  }

  /** The state as last caught up, without a read (to guess which other streams a load should include). */
  peek<S>(streamName: string): S | undefined {
    return this.entries.get(streamName)?.state as S | undefined;
  }

  private async readForward(requests: { streamName: string; fromRevision: number }[]): Promise<Map<string, RecordedEvent[]>> {
    if (this.store.readStreamsForward) return this.store.readStreamsForward(requests);
    const out = new Map<string, RecordedEvent[]>();
    await Promise.all(
      requests.map(async (r) =>
        out.set(r.streamName, (await readStreamIfAny(this.store, r.streamName, { fromRevision: r.fromRevision })) ?? []),
      ),
    );
    return out;
  }

  private remember(streamName: string, entry: Entry) {
    // Loads that overlap finish in any order: one that read less must not put an older state back.
    const known = this.entries.get(streamName);
    if (known && known.revision !== null && (entry.revision === null || entry.revision < known.revision)) return;
    this.entries.delete(streamName);
    this.entries.set(streamName, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }
}
