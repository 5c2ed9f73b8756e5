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
  apply(events: RecordedEvent[], ctx: ProjectionContext): Promise<void>;
}

/** A domain event as the store gives it back (one member of a union at a time, so that `type` narrows `data`). */
export type RecordedOf<E extends DomainEvent> = E extends DomainEvent<infer T, infer D> ? RecordedEvent<T, D> : never;

/** The members of a union whose type is listed. */
export type Listed<E extends DomainEvent, T extends readonly string[]> = Extract<E, { type: T[number] }>;

export interface ProjectionDefinition<E extends DomainEvent, T extends readonly E['type'][]> {
  name: string;
  tables: string[];
  /** The types it reads, each one of `E`'s: a type renamed or removed in the domain no longer compiles here. */
  eventTypes: T;
  apply(events: RecordedOf<Listed<E, T>>[], ctx: ProjectionContext): Promise<void>;
}

/**
 * A read model over the event union `E` (given explicitly; the listed types are inferred):
 * `defineProjection<OutboxEvent>()({ name, tables, eventTypes: ['OutboxCreated'], apply(events) {…} })`.
 * `apply` gets only the listed members, typed, so a comparison with a type that is not listed (or no longer
 * exists) is a compile error rather than a branch that silently never runs.
 */
export function defineProjection<E extends DomainEvent>() {
  return <const T extends readonly E['type'][]>(definition: ProjectionDefinition<E, T>): Projection => ({
    name: definition.name,
    tables: definition.tables,
    eventTypes: definition.eventTypes,
    // The one erasure: the engine and the rebuild hand `apply` only events whose type is in `eventTypes`
    // (engine.ts, rebuild.ts), and each listed type is one of E's, whose data the command side wrote as E says.
    apply: (events, ctx) => definition.apply(events as unknown as RecordedOf<Listed<E, T>>[], ctx),
  });
}
