import type { AllowlistEvent } from '../domain/allowlist.js';
import type { Queryable } from '../sql/db.js';
import { afterCursor, keysetPage } from './keyset-page.js';
import { defineProjection } from './projection.js';

export const allowlistProjection = defineProjection<AllowlistEvent>()({
  name: 'allowlist',
  tables: ['crm_allowlist_entries'],
  on: {
    AllowlistEntryAdded: ({ data: { companyId, entry: x } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_allowlist_entries')} (id, company_id, pattern, channel, note, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
        [x.entryId, companyId, x.pattern, x.channel, x.note, x.createdAt, x.createdBy],
      ),
    AllowlistEntryRemoved: (e, { tx, table }) => tx.query(`DELETE FROM ${table('crm_allowlist_entries')} WHERE id = $1`, [e.data.entryId]),
  },
});

/** Oldest first, a page at a time; `after` is the (createdAt, id) of the last entry of the previous page. */
export async function listAllowlist(q: Queryable, companyId: string, page: { after?: { createdAt: Date; id: string }; limit: number }) {
  const params: unknown[] = [companyId];
  const after = page.after ? ` AND ${afterCursor(params, page.after)}` : '';
  params.push(page.limit + 1);
  const { rows } = await q.query<{
    id: string;
    pattern: string;
    channel: string | null;
    note: string | null;
    created_at: Date;
    created_by: string;
  }>(
    `SELECT id, pattern, channel, note, created_at, created_by FROM crm_allowlist_entries WHERE company_id = $1${after} ORDER BY created_at, id LIMIT $${params.length}`,
    params,
  );
  return keysetPage(rows, page.limit, (r) => ({
    id: r.id,
    pattern: r.pattern,
    channel: r.channel,
    note: r.note,
    createdAt: r.created_at,
    createdBy: r.created_by,
  }));
}
