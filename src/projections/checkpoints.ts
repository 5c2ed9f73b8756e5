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
 * Moves the checkpoint from `from` to `to` in one statement, and only if it is still at `from`: the row lock
 * the update takes fences other instances (and a rebuild's swap) for the rest of the transaction, and one
 * waiting on such a lock sees the moved row and updates nothing. False: someone else moved it.
 */
export async function advanceCheckpoint(tx: Queryable, name: string, from: Position, to: Position, applied: number): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE crm_projection_checkpoints
        SET commit_pos = $4, prepare_pos = $5, updated_at = now(), events_applied = events_applied + $6
      WHERE name = $1 AND commit_pos = $2 AND prepare_pos = $3`,
    [name, from.commit.toString(), from.prepare.toString(), to.commit.toString(), to.prepare.toString(), applied],
  );
  return rowCount === 1;
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
