import type { OutboxEvent, OutboxFields } from '../domain/outbox.js';
import type { Queryable } from '../sql/db.js';
import { updateChangedColumns } from './apply-changes.js';
import { defineProjection } from './projection.js';

const COLUMN: Record<keyof OutboxFields, string> = {
  channel: 'channel',
  niche: 'niche',
  secretRef: 'secret_ref',
  credentialId: 'credential_id',
  config: 'config',
  dailyCap: 'daily_cap',
  timezone: 'timezone',
};

export const outboxesProjection = defineProjection<OutboxEvent>()({
  name: 'outboxes',
  tables: ['crm_outboxes'],
  on: {
    OutboxCreated: ({ data: { fields: f, ...d } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_outboxes')} (id, company_id, channel, niche, secret_ref, credential_id, config, daily_cap, timezone, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING`,
        [
          d.outboxId,
          d.companyId,
          f.channel,
          f.niche,
          f.secretRef,
          f.credentialId,
          JSON.stringify(f.config),
          f.dailyCap,
          f.timezone,
          d.createdAt,
        ],
      ),
    OutboxUpdated: ({ data: d }, { tx, table }) =>
      updateChangedColumns(tx, table('crm_outboxes'), d.outboxId, d.updatedAt, d.changes, COLUMN, ['config']),
    OutboxDeleted: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_outboxes')} SET deleted_at = coalesce(deleted_at, $2) WHERE id = $1`, [d.outboxId, d.deletedAt]),
  },
});

interface Row {
  id: string;
  channel: string;
  niche: string | null;
  secret_ref: string;
  credential_id: string;
  config: Record<string, unknown>;
  daily_cap: number;
  timezone: string;
  created_at: Date;
  updated_at: Date;
}

const view = (r: Row) => ({
  id: r.id,
  channel: r.channel,
  niche: r.niche,
  secretRef: r.secret_ref,
  config: r.config,
  dailyCap: r.daily_cap,
  timezone: r.timezone,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function listOutboxes(q: Queryable, companyId: string) {
  const { rows } = await q.query<Row>(`SELECT * FROM crm_outboxes WHERE company_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`, [
    companyId,
  ]);
  return rows.map(view);
}

export async function getOutbox(q: Queryable, companyId: string, id: string) {
  const { rows } = await q.query<Row>(`SELECT * FROM crm_outboxes WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL`, [
    companyId,
    id,
  ]);
  return rows[0] ? view(rows[0]) : null;
}

/** Outboxes sharing a credential share the smallest of their caps. */
export async function sharedCap(q: Queryable, companyId: string, credentialId: string): Promise<number | null> {
  const { rows } = await q.query<{ cap: number | null }>(
    `SELECT min(daily_cap)::int AS cap FROM crm_outboxes WHERE company_id = $1 AND credential_id = $2 AND deleted_at IS NULL`,
    [companyId, credentialId],
  );
  return rows[0]?.cap ?? null;
}

/** The time zones other live outboxes on a credential count the quota day in. */
export async function credentialTimezones(
  q: Queryable,
  companyId: string,
  credentialId: string,
  exceptOutboxId: string | null,
): Promise<string[]> {
  const { rows } = await q.query<{ timezone: string }>(
    `SELECT DISTINCT timezone FROM crm_outboxes WHERE company_id = $1 AND credential_id = $2 AND deleted_at IS NULL AND ($3::uuid IS NULL OR id <> $3)`,
    [companyId, credentialId, exceptOutboxId],
  );
  return rows.map((r) => r.timezone);
}

/** The companies with at least one outbox (companies exist only as ids): what an instance admin is offered. */
export async function companiesWithOutboxes(q: Queryable, limit = 1000): Promise<string[]> {
  const { rows } = await q.query<{ company_id: string }>(
    'SELECT DISTINCT company_id FROM crm_outboxes WHERE deleted_at IS NULL ORDER BY company_id LIMIT $1',
    [limit],
  );
  return rows.map((r) => r.company_id);
}
