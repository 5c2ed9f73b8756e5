import type { RecordedEvent } from '../eventstore/port.js';
import type { Queryable } from '../sql/db.js';

export interface ProjectionContext {
  /** The open transaction: rows and the checkpoint commit together. */
  tx: Queryable;
  /** The physical name of one of the projection's tables (a rebuild writes into tables aside). */
  table(name: string): string;
}

/**
 * A read model. `apply` must be harmless on re-delivery (upserts keyed by ids), and must only touch the
 * tables it declares, through `ctx.table`, so that it can be rebuilt aside and swapped in.
 */
export interface Projection {
  name: string;
  tables: string[];
  /** Event types it reads; others only advance its checkpoint. All when absent. */
  eventTypes?: readonly string[];
  apply(events: RecordedEvent[], ctx: ProjectionContext): Promise<void>;
}
