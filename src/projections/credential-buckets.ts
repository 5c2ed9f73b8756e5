import type { QuotaBucketEvent } from '../domain/quota-bucket.js';
import { type HeldUnit, checkLimits, limitWindow, usage } from '../domain/quota-limits.js';
import { localDay } from '../domain/time-window.js';
import { type OutboxQuotaRow, quotaOfOutboxes } from './outboxes.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

/** crm_credential_buckets: quota used per credential and day, counted from the bucket streams. */
// A day's closing changes no count.
type UnitEvent = Extract<QuotaBucketEvent, { type: 'QuotaReserved' | 'QuotaRefunded' }>;

export const credentialBucketsProjection = defineProjection<UnitEvent>()({
  name: 'credential_buckets',
  tables: ['crm_credential_buckets', 'crm_credential_bucket_units'],
  eventTypes: ['QuotaReserved', 'QuotaRefunded'],
  // Set-based: a hot credential's batch holds hundreds of reservations. Units are inserted before refunds are
  // deleted, which is the log's order for any one activity (a refund only ever follows its reservation).
  async apply(events, { tx, table }) {
    const buckets = table('crm_credential_buckets');
    const units = table('crm_credential_bucket_units');
    const columns = (list: UnitEvent[]) => [
      list.map((e) => e.data.companyId),
      list.map((e) => e.data.credentialId),
      list.map((e) => e.data.day),
      list.map((e) => e.data.activityId),
    ];
    const reserved = events.filter((e) => e.type === 'QuotaReserved');
    const refunded = events.filter((e) => e.type === 'QuotaRefunded');
    type Changed = { company_id: string; credential_id: string; day: string; activity_id: string };
    const added =
      reserved.length === 0
        ? []
        : (
            await tx.query<Changed>(
              `INSERT INTO ${units} (company_id, credential_id, day, activity_id, at, recipient)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[], $6::text[]) ON CONFLICT DO NOTHING
       RETURNING company_id, credential_id, day, activity_id`,
              [
                ...columns(reserved),
                reserved.map((e) => e.data.at),
                reserved.map((e) => (e.data as { recipient?: string }).recipient ?? null),
              ],
            )
          ).rows;
    const removed =
      refunded.length === 0
        ? []
        : (
            await tx.query<Changed>(
              `DELETE FROM ${units} AS u USING unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[]) AS r(c, k, d, a)
        WHERE u.company_id = r.c AND u.credential_id = r.k AND u.day = r.d AND u.activity_id = r.a
       RETURNING u.company_id, u.credential_id, u.day, u.activity_id`,
              columns(refunded),
            )
          ).rows;
    // Keys as PostgreSQL prints uuids (lower case), whatever the case in the events.
    const bucketOf = (companyId: string, credentialId: string, day: string) => `${companyId}/${credentialId}/${day}`.toLowerCase();
    const unitOf = (bucket: string, activityId: string) => `${bucket}/${activityId.toLowerCase()}`;
    const changedUnits = new Set([...added, ...removed].map((r) => unitOf(bucketOf(r.company_id, r.credential_id, r.day), r.activity_id)));
    const delta = new Map<string, { companyId: string; credentialId: string; day: string; used: number; cap: number | null; at: string }>();
    for (const e of events) {
      // The latest cap and time of each bucket, from the events that changed a unit (as one event at a time).
      const key = bucketOf(e.data.companyId, e.data.credentialId, e.data.day);
      if (!changedUnits.has(unitOf(key, e.data.activityId))) continue;
      const d = delta.get(key) ?? {
        companyId: e.data.companyId,
        credentialId: e.data.credentialId,
        day: e.data.day,
        used: 0,
        cap: null,
        at: e.data.at,
      };
      if (e.type === 'QuotaReserved') d.cap = e.data.cap;
      d.at = e.data.at;
      delta.set(key, d);
    }
    const count = (rows: Changed[], by: number) => {
      for (const r of rows) delta.get(bucketOf(r.company_id, r.credential_id, r.day))!.used += by;
    };
    count(added, 1);
    count(removed, -1);
    // Only buckets whose units changed (a re-delivered event changes nothing): the only ones in `delta`.
    const changed = [...delta.values()];
    if (changed.length === 0) return;
    await tx.query(
      `INSERT INTO ${buckets} AS b (company_id, credential_id, day, cap, used, updated_at)
       SELECT c, k, d, cap, used, at FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::timestamptz[]) AS u(c, k, d, cap, used, at)
       ON CONFLICT (company_id, credential_id, day) DO UPDATE
         SET used = b.used + excluded.used, updated_at = excluded.updated_at,
             cap = CASE WHEN excluded.cap < 0 THEN b.cap ELSE excluded.cap END`,
      [
        changed.map((d) => d.companyId),
        changed.map((d) => d.credentialId),
        changed.map((d) => d.day),
        changed.map((d) => d.cap ?? -1), // -1: no reservation in this batch, the cap stays
        changed.map((d) => d.used),
        changed.map((d) => d.at),
      ],
    );
  },
});

type BucketRow = { credential_id: string; day: string; cap: number; used: number };
const bucketView = (r: BucketRow) => ({ credential: r.credential_id, day: r.day, cap: r.cap, used: r.used });

export async function listCredentialBuckets(q: Queryable, companyId: string, day: string) {
  const { rows } = await q.query<BucketRow>(
    `SELECT credential_id, day, cap, used FROM crm_credential_buckets WHERE company_id = $1 AND day = $2 ORDER BY credential_id`,
    [companyId, day],
  );
  return rows.map(bucketView);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Each credential's bucket of today, "today" in the time zone its live outboxes count the quota day in (one
 * per credential, the outbox routes see to that); a credential with no live outbox left counts in UTC, the
 * outboxes' default. Time zones run from UTC-12 to UTC+14, so today anywhere is one of three UTC dates. Every
 * credential with a live outbox is listed (one refused by a limit all day has no bucket today), with each limit
 * beyond the daily cap its outboxes share, as used at `now`.
 */
export async function listTodaysCredentialBuckets(q: Queryable, companyId: string, now: Date) {
  const days = [-14, 0, 14].map((h) => localDay(new Date(now.getTime() + h * HOUR), 'UTC'));
  const [{ rows: buckets }, { rows: outboxes }] = await Promise.all([
    q.query<BucketRow>(
      `SELECT credential_id, day, cap, used FROM crm_credential_buckets WHERE company_id = $1 AND day = ANY($2::text[]) ORDER BY credential_id, day`,
      [companyId, days],
    ),
    q.query<OutboxQuotaRow & { credential_id: string; timezone: string }>(
      `SELECT credential_id, channel, daily_cap, limits, timezone FROM crm_outboxes WHERE company_id = $1 AND deleted_at IS NULL`,
      [companyId],
    ),
  ]);
  const rowsOf = new Map<string, { tz: string; rows: OutboxQuotaRow[] }>();
  for (const o of outboxes) {
    const c = rowsOf.get(o.credential_id) ?? { tz: o.timezone, rows: [] };
    c.rows.push(o);
    rowsOf.set(o.credential_id, c);
  }
  const byCredential = new Map([...rowsOf].map(([k, c]) => [k, { tz: c.tz, quota: quotaOfOutboxes(c.rows) }]));
  const todayOf = (credential: string) => localDay(now, byCredential.get(credential)?.tz ?? 'UTC');
  const listed = buckets.filter((b) => b.day === todayOf(b.credential_id)).map(bucketView);
  for (const [credential, c] of byCredential) {
    if (!listed.some((b) => b.credential === credential)) listed.push({ credential, day: todayOf(credential), cap: c.quota.cap!, used: 0 });
  }
  listed.sort((a, b) => a.credential.localeCompare(b.credential));
  const limited = [...byCredential].filter(([, c]) => c.quota.limits.length > 0).map(([k]) => k);
  const units = new Map<string, HeldUnit[]>();
  if (limited.length > 0) {
    // Rows from before units had a time count at their day's start (the cautious side).
    const { rows } = await q.query<{ credential_id: string; at: Date; recipient: string }>(
      `SELECT credential_id, coalesce(at, day::date::timestamptz) AS at, coalesce(recipient, 'activity:' || activity_id) AS recipient
         FROM crm_credential_bucket_units
        WHERE company_id = $1 AND credential_id = ANY($2::uuid[]) AND day >= $3`,
      [companyId, limited, localDay(new Date(now.getTime() - 9 * DAY), 'UTC')],
    );
    for (const r of rows) {
      const held = units.get(r.credential_id) ?? [];
      held.push({ at: new Date(r.at), recipient: r.recipient });
      units.set(r.credential_id, held);
    }
  }
  return listed.map((b) => {
    const c = byCredential.get(b.credential);
    if (!c) return b;
    const held = units.get(b.credential) ?? [];
    const limits = c.quota.limits.map((l) => {
      const used = usage(l, held, now, c.tz);
      const refusal = used >= l.max ? checkLimits([l], held, { recipient: '', now }, c.tz) : null;
      return {
        ...l,
        used,
        windowStart: limitWindow(l.per, now, c.tz).start.toISOString(),
        retryAt: refusal?.retryAt.toISOString() ?? null,
      };
    });
    return { ...b, limits };
  });
}
