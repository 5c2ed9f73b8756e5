import type { SequenceEvent } from '../domain/sequence.js';
import type { Queryable } from '../sql/db.js';
import { afterCursor, keysetPage } from './keyset-page.js';
import { type ProjectionContext, defineProjection } from './projection.js';

const setStatus =
  (status: string) =>
  ({ data: d }: { data: { sequenceId: string; at: string } }, { tx, table }: ProjectionContext) =>
    tx.query(`UPDATE ${table('crm_sequences')} SET status = $2, updated_at = $3 WHERE id = $1`, [d.sequenceId, status, d.at]);

export const sequencesProjection = defineProjection<SequenceEvent>()({
  name: 'sequences',
  tables: ['crm_sequences'],
  on: {
    SequenceCreated: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_sequences')} (id, company_id, name, status, version, definition, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $6) ON CONFLICT (id) DO NOTHING`,
        [d.sequenceId, d.companyId, d.name, d.definition.version, JSON.stringify(d.definition), d.at],
      ),
    SequenceRenamed: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_sequences')} SET name = $2, updated_at = $3 WHERE id = $1`, [d.sequenceId, d.name, d.at]),
    SequenceVersioned: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_sequences')} SET version = $2, definition = $3, updated_at = $4 WHERE id = $1`, [
        d.sequenceId,
        d.definition.version,
        JSON.stringify(d.definition),
        d.at,
      ]),
    SequencePaused: setStatus('paused'),
    SequenceResumed: setStatus('active'),
    SequenceDeleted: setStatus('deleted'),
  },
});

interface Row {
  id: string;
  name: string;
  status: string;
  version: number;
  definition: { steps: unknown[]; sendWindow: unknown; stopOn: string[] };
  created_at: Date;
  updated_at: Date;
}

const view = (r: Row) => ({
  id: r.id,
  name: r.name,
  status: r.status,
  version: r.version,
  steps: r.definition.steps,
  sendWindow: r.definition.sendWindow,
  stopOn: r.definition.stopOn,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type SequenceView = ReturnType<typeof view>;

const COLUMNS = 'id, name, status, version, definition, created_at, updated_at';

export async function getSequence(q: Queryable, companyId: string, sequenceId: string): Promise<SequenceView | null> {
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM crm_sequences WHERE company_id = $1 AND id = $2 AND status <> 'deleted'`, [
    companyId,
    sequenceId,
  ]);
  return rows[0] ? view(rows[0]) : null;
}

export async function listSequences(q: Queryable, companyId: string, page: { after?: { createdAt: Date; id: string }; limit: number }) {
  const params: unknown[] = [companyId];
  const after = page.after ? `AND ${afterCursor(params, page.after)}` : '';
  params.push(page.limit + 1);
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM crm_sequences WHERE company_id = $1 AND status <> 'deleted' ${after} ORDER BY created_at, id LIMIT $${params.length}`,
    params,
  );
  return keysetPage(rows, page.limit, view);
}
