import type { SuppressionEvent } from '../domain/suppression.js';
import type { Queryable } from '../sql/db.js';
import { afterCursor, keysetPage } from './keyset-page.js';
import { defineProjection } from './projection.js';

/** crm_suppressions: the suppressions in force (a lifted one is deleted; the log keeps its history). */
export const suppressionsProjection = defineProjection<SuppressionEvent>()({
  name: 'suppressions',
  tables: ['crm_suppressions'],
  on: {
    // An id comes back after a lift (ids are derived from the recipient): the latest entry wins.
    RecipientSuppressed: ({ data: { entry: x } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_suppressions')} (id, company_id, recipient, channel, source, reason, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, reason = EXCLUDED.reason, created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by`,
        [x.suppressionId, x.companyId, x.recipient, x.channel, x.source, x.reason, x.createdAt, x.createdBy],
      ),
    SuppressionLifted: (e, { tx, table }) => tx.query(`DELETE FROM ${table('crm_suppressions')} WHERE id = $1`, [e.data.suppressionId]),
  },
});

interface Row {
  id: string;
  recipient: string;
  channel: string | null;
  source: string;
  reason: string | null;
  created_at: Date;
  created_by: string;
}

const view = (r: Row) => ({
  id: r.id,
  recipient: r.recipient,
  channel: r.channel,
  source: r.source,
  reason: r.reason,
  createdAt: r.created_at,
  createdBy: r.created_by,
});

export interface SuppressionFilter {
  /** Normalised recipient. */
  recipient?: string;
  source?: string;
  /** Keyset cursor: the (createdAt, id) of the last row of the previous page. */
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Newest first, a page at a time. */
export async function listSuppressions(q: Queryable, companyId: string, f: SuppressionFilter) {
  const params: unknown[] = [companyId];
  const where = ['company_id = $1'];
  if (f.recipient) {
    params.push(f.recipient);
    where.push(`recipient = $${params.length}`);
  }
  if (f.source) {
    params.push(f.source);
    where.push(`source = $${params.length}`);
  }
  if (f.after) where.push(afterCursor(params, f.after, 'desc'));
  params.push(f.limit + 1);
  const { rows } = await q.query<Row>(
    `SELECT id, recipient, channel, source, reason, created_at, created_by FROM crm_suppressions WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return keysetPage(rows, f.limit, view);
}
