import type { Position } from '../eventstore/port.js';
import type { Queryable } from '../sql/db.js';

interface Row {
  name: string;
  commit_pos: string;
  prepare_pos: string;
  events_applied: string | number;
  updated_at: Date | string;
}

export interface Checkpoint {
  name: string;
  position: Position;
  eventsApplied: number;
  updatedAt: Date;
}

const toCheckpoint = (r: Row): Checkpoint => ({
  name: r.name,
  position: { commit: BigInt(r.commit_pos), prepare: BigInt(r.prepare_pos) },
  eventsApplied: Number(r.events_applied),
  updatedAt: new Date(r.updated_at),
});

const SELECT = `SELECT name, commit_pos::text, prepare_pos::text, events_applied, updated_at FROM crm_projection_checkpoints`;

export async function ensureCheckpoints(q: Queryable, names: string[]): Promise<void> {
  await q.query(`INSERT INTO crm_projection_checkpoints (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, [names]);
}

export async function readCheckpoints(q: Queryable): Promise<Checkpoint[]> {
  return (await q.query<Row>(SELECT)).rows.map(toCheckpoint);
}

/** Locks the projection's checkpoint row for the rest of the transaction: the fence between instances. */
export async function lockCheckpoint(tx: Queryable, name: string): Promise<Checkpoint> {
  const { rows } = await tx.query<Row>(`${SELECT} WHERE name = $1 FOR UPDATE`, [name]);
  if (!rows[0]) throw new Error(`no checkpoint row for projection ${name}`);
  return toCheckpoint(rows[0]);
}

/**
 * Moves each named checkpoint from its `from` to its `to` in one statement, each only if it is still at its
 * `from`: the row locks the update takes fence other instances (and a rebuild's swap) for the rest of the
 * transaction, and one waiting on such a lock sees the moved row and updates nothing. Returns the names that
 * moved; the others were moved by someone else.
 */
export async function advanceCheckpoints(
  tx: Queryable,
  moves: { name: string; from: Position; to: Position; applied: number }[],
): Promise<Set<string>> {
  if (moves.length === 0) return new Set();
  const col = (f: (m: (typeof moves)[number]) => unknown) => moves.map(f);
  const { rows } = await tx.query<{ name: string }>(
    `UPDATE crm_projection_checkpoints c
        SET commit_pos = m.to_c, prepare_pos = m.to_p, updated_at = now(), events_applied = c.events_applied + m.applied
       FROM unnest($1::text[], $2::numeric[], $3::numeric[], $4::numeric[], $5::numeric[], $6::bigint[]) AS m(name, from_c, from_p, to_c, to_p, applied)
      WHERE c.name = m.name AND c.commit_pos = m.from_c AND c.prepare_pos = m.from_p
      RETURNING c.name`,
    [
      col((m) => m.name),
      col((m) => m.from.commit.toString()),
      col((m) => m.from.prepare.toString()),
      col((m) => m.to.commit.toString()),
      col((m) => m.to.prepare.toString()),
      col((m) => m.applied),
    ],
  );
  return new Set(rows.map((r) => r.name));
}

export async function writeCheckpoint(tx: Queryable, name: string, position: Position, applied: number, reset = false): Promise<void> {
  await tx.query(
    `UPDATE crm_projection_checkpoints
        SET commit_pos = $2, prepare_pos = $3, updated_at = now(),
            events_applied = CASE WHEN $5 THEN $4 ELSE events_applied + $4 END
      WHERE name = $1`,
    [name, position.commit.toString(), position.prepare.toString(), applied, reset],
  );
}
