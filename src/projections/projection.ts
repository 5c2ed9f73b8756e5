import type { DomainEvent } from '../domain/decider.js';
import type { RecordedEvent } from '../eventstore/port.js';
import type { Queryable } from '../sql/db.js';

export interface ProjectionContext {
  /** The open transaction: rows and the checkpoint commit together. */
  tx: Queryable;
  /** The physical name of one of the projection's tables (a rebuild writes into tables aside). */
  table(name: string): string;
}

/**
 * A read model as the engine and the rebuild see it, whatever its events. `apply` must be harmless on
 * re-delivery (upserts keyed by ids), and must only touch the tables it declares, through `ctx.table`, so that
 * it can be rebuilt aside and swapped in. Read models are written with `defineProjection`, which types them.
 */
export interface Projection {
  name: string;
  tables: string[];
  /** Event types it reads; others only advance its checkpoint. All when absent. */
  eventTypes?: readonly string[];
  /**
   * Of the events of those types, the ones it writes anything for; the others only advance its checkpoint too, so
   * a batch with none of them costs no transaction. All when absent.
   */
  writesFor?: (event: RecordedEvent) => boolean;
  apply(events: RecordedEvent[], ctx: ProjectionContext): Promise<void>;
}

/** The events of a batch that `p` writes for (`eventTypes`, then `writesFor`), in order: what the engine and the rebuild apply. */
export function eventsFor(p: Projection, batch: RecordedEvent[]): RecordedEvent[] {
  if (!p.eventTypes && !p.writesFor) return batch;
  return batch.filter((e) => (!p.eventTypes || p.eventTypes.includes(e.type)) && (!p.writesFor || p.writesFor(e)));
}

/** A domain event as the store gives it back (one member of a union at a time, so that `type` narrows `data`). */
export type RecordedOf<E extends DomainEvent> = E extends DomainEvent<infer T, infer D> ? RecordedEvent<T, D> : never;

/** The members of a union whose type is listed. */
export type Listed<E extends DomainEvent, T extends readonly string[]> = Extract<E, { type: T[number] }>;

/**
 * A handler for each event type read, keyed by the type (each one of `E`'s: a type renamed or removed in the
 * domain no longer compiles here), and given that member of the union, typed.
 */
export type Handlers<E extends DomainEvent> = {
  [K in E['type']]?: (event: RecordedOf<Extract<E, { type: K }>>, ctx: ProjectionContext) => Promise<unknown>;
};

export interface HandlerDefinition<E extends DomainEvent> {
  name: string;
  tables: string[];
  /** The event types it reads are the keys. */
  on: Handlers<E>;
  eventTypes?: never;
  apply?: never;
}

/**
 * The whole batch at once, for a read model that writes a batch in a few set-based statements rather than a
 * statement per event.
 */
export interface BatchDefinition<E extends DomainEvent, T extends readonly E['type'][]> {
  name: string;
  tables: string[];
  /** The types it reads, each one of `E`'s: a type renamed or removed in the domain no longer compiles here. */
  eventTypes: T;
  /** See `Projection.writesFor`; asked only of events of the listed types. */
  writesFor?: (event: RecordedOf<Listed<E, T>>) => boolean;
  apply(events: RecordedOf<Listed<E, T>>[], ctx: ProjectionContext): Promise<void>;
  on?: never;
}

/**
 * A read model over the event union `E` (given explicitly):
 * `defineProjection<OutboxEvent>()({ name, tables, on: { OutboxCreated: (e, { tx, table }) => tx.query(…) } })`.
 * Handlers run in the order of the events, one at a time, in the projection's transaction; the engine hands
 * over only events of the types in `on`. The batch form (`eventTypes` and `apply`) gets only the listed
 * members, typed, so a comparison with a type that is not listed (or no longer exists) is a compile error
 * rather than a branch that silently never runs.
 */
export function defineProjection<E extends DomainEvent>() {
  return <const T extends readonly E['type'][] = never>(definition: HandlerDefinition<E> | BatchDefinition<E, T>): Projection => {
    // The one erasure: the engine and the rebuild hand over only events whose type is in `eventTypes`
    // (engine.ts, rebuild.ts), and each of those types is one of E's, whose data the command side wrote as E says.
    if (definition.apply) {
      const { name, tables, eventTypes, writesFor, apply } = definition;
      return {
        name,
        tables,
        eventTypes,
        ...(writesFor ? { writesFor: (e: RecordedEvent) => writesFor(e as unknown as RecordedOf<Listed<E, T>>) } : {}),
        apply: (events, ctx) => apply(events as unknown as RecordedOf<Listed<E, T>>[], ctx),
      };
    }
    const { name, tables, on } = definition;
    const handlers = new Map(Object.entries(on) as [string, (event: RecordedEvent, ctx: ProjectionContext) => Promise<unknown>][]);
    return {
      name,
      tables,
      eventTypes: [...handlers.keys()],
      // One at a time, in the log's order, as a read model's rows assume (a removal after its addition).
      async apply(events, ctx) {
        for (const e of events) await handlers.get(e.type)?.(e, ctx);
      },
    };
  };
}

/**
 * `events` cut, in order, into runs of one type in which no key repeats: each run can be written with one
 * set-based statement and the log's order still holds (a key's second event in a batch starts a new run).
 */
export function runsOfOneType<T extends { type: string }>(events: readonly T[], key: (e: T) => string): T[][] {
  const runs: T[][] = [];
  let keys = new Set<string>();
  for (const e of events) {
    const run = runs.at(-1);
    const k = key(e);
    if (run && run[0]!.type === e.type && !keys.has(k)) run.push(e);
    else {
      runs.push([e]);
      keys = new Set();
    }
    keys.add(k);
  }
  return runs;
}
