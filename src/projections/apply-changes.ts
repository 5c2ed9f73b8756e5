import type { Queryable } from '../sql/db.js';

/**
 * `UPDATE table SET <column> = <value>, ..., updated_at = at WHERE id = id` for the changed fields of an
 * `...Updated` event, through a field -> column map (jsonb fields are serialised).
 */
export async function updateChangedColumns<F extends string>(
  tx: Queryable,
  table: string,
  id: string,
  at: string,
  changes: Partial<Record<F, unknown>>,
  columns: Record<F, string>,
  jsonFields: readonly F[] = [],
): Promise<void> {
  const entries = Object.entries(changes) as [F, unknown][];
  const sets = entries.map(([k], i) => `${columns[k]} = $${i + 3}`);
  await tx.query(`UPDATE ${table} SET ${[...sets, 'updated_at = $2'].join(', ')} WHERE id = $1`, [
    id,
    at,
    ...entries.map(([k, v]) => (jsonFields.includes(k) && v !== null ? JSON.stringify(v) : v)),
  ]);
}
