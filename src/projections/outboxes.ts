import type { OutboxChannel } from '../domain/channels.js';
import type { OutboxEvent, OutboxFields } from '../domain/outbox.js';
import { type QuotaLimit, effectiveLimits, sharedLimits } from '../domain/quota-limits.js';
import { batcher } from '../concurrency/batcher.js';
import type { Db, Queryable } from '../sql/db.js';
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
  limits: 'limits',
};

export const outboxesProjection = defineProjection<OutboxEvent>()({
  name: 'outboxes',
  tables: ['crm_outboxes'],
  on: {
    OutboxCreated: ({ data: { fields: f, ...d } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_outboxes')} (id, company_id, channel, niche, secret_ref, credential_id, config, daily_cap, timezone, limits, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10, $10) ON CONFLICT (id) DO NOTHING`,
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
          JSON.stringify(f.limits ?? []),
        ],
      ),
    OutboxUpdated: ({ data: d }, { tx, table }) =>
      updateChangedColumns(tx, table('crm_outboxes'), d.outboxId, d.updatedAt, d.changes, COLUMN, ['config', 'limits']),
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
  limits: QuotaLimit[];
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
  limits: r.limits,
  // What the credential's sends are held to from this outbox: its own limits and its channel's defaults.
  effectiveLimits: effectiveLimits(r.channel as OutboxChannel, r.limits),
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

/** What the live outboxes on a credential hold its sends to: the smallest cap, and of each kind of limit the smallest. */
export interface SharedQuota {
  /** Null: no live outbox known. */
  cap: number | null;
  limits: QuotaLimit[];
}

/** An outbox as far as its credential's quota goes. */
export type OutboxQuotaRow = { channel: OutboxChannel; daily_cap: number; limits: QuotaLimit[] };

/** What outboxes on one credential hold it to: the smallest cap, and of each other kind of limit the smallest. */
export function quotaOfOutboxes(rows: readonly OutboxQuotaRow[]): SharedQuota {
  if (rows.length === 0) return { cap: null, limits: [] };
  const limits = sharedLimits(rows.map((r) => ({ dailyCap: r.daily_cap, limits: effectiveLimits(r.channel, r.limits) })));
  // The day cap is the cap; the limits are the rest.
  const day = limits.find((l) => l.per === 'day' && l.unit === 'sends')!;
  return { cap: day.max, limits: limits.filter((l) => l !== day) };
}

interface PendingLookup {
  companyId: string;
  credentialId: string;
  resolve: (q: SharedQuota) => void;
  reject: (err: unknown) => void;
}

type KeyedRow = OutboxQuotaRow & { company_id: string; credential_id: string };

/**
 * Batches in flight at once on PostgreSQL: a lookup joins the next batch without waiting for one in flight to end
 * (with one at a time, each reservation waited for it: slower than a query per send, measured).
 */
const LOOKUPS_IN_FLIGHT = 8;

/**
 * Outboxes sharing a credential share the smallest of their caps and of each kind of limit (channel defaults
 * included). The quota reserver asks once per bucket batch, which across many credentials is once per send: the
 * lookups of one turn go together in one query (a wave of sends resumed by one append batch asks for dozens of
 * credentials at once), each batch started after its callers asked, so each sees every commit before it.
 */
export function sharedQuotaLookup(db: Db): (key: { companyId: string; credentialId: string }) => Promise<SharedQuota> {
  const lookups = batcher<PendingLookup>(
    async (items) => {
      try {
        // Both are uuids by then (a company id is checked at the HTTP edge, a credential id is an outbox's column),
        // so one caller's key cannot fail the batch for the others.
        const keys = [...new Map(items.map((i) => [`${i.companyId}/${i.credentialId}`, i])).values()];
        const { rows } = await db.query<KeyedRow>(
          `SELECT o.company_id, o.credential_id, o.channel, o.daily_cap, o.limits
             FROM unnest($1::uuid[], $2::uuid[]) AS k(company_id, credential_id)
             CROSS JOIN LATERAL (SELECT * FROM crm_outboxes x
                                  WHERE x.company_id = k.company_id AND x.credential_id = k.credential_id AND x.deleted_at IS NULL) AS o`,
          [keys.map((k) => k.companyId), keys.map((k) => k.credentialId)],
        );
        const byKey = new Map<string, KeyedRow[]>();
        for (const r of rows) {
          const key = `${r.company_id}/${r.credential_id}`;
          const list = byKey.get(key);
          if (list) list.push(r);
          else byKey.set(key, [r]);
        }
        for (const i of items) i.resolve(quotaOfOutboxes(byKey.get(`${i.companyId}/${i.credentialId}`) ?? []));
      } catch (err) {
        for (const i of items) i.reject(err);
      }
    },
    // PGlite is one connection in this thread: one at a time, after the requests already due (see `batcher`).
    db.kind === 'pglite' ? { maxInFlight: 1, maxItems: 256, start: 'immediate' } : { maxInFlight: LOOKUPS_IN_FLIGHT, maxItems: 256 },
  );
  return ({ companyId, credentialId }) =>
    new Promise<SharedQuota>((resolve, reject) => lookups.add({ companyId, credentialId, resolve, reject }));
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
