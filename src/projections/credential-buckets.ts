import type { QuotaBucketEvent } from '../domain/quota-bucket.js';
import { localDay } from '../domain/time-window.js';
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
              `INSERT INTO ${units} SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[]) ON CONFLICT DO NOTHING
       RETURNING company_id, credential_id, day, activity_id`,
              columns(reserved),
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

/**
 * Each credential's bucket of today, "today" in the time zone its live outboxes count the quota day in (one
 * per credential, the outbox routes see to that); a credential with no live outbox left counts in UTC, the
 * outboxes' default. Time zones run from UTC-12 to UTC+14, so today anywhere is one of three UTC dates.
 */
export async function listTodaysCredentialBuckets(q: Queryable, companyId: string, now: Date) {
  const days = [-14, 0, 14].map((h) => localDay(new Date(now.getTime() + h * HOUR), 'UTC'));
  const { rows } = await q.query<BucketRow & { timezones: string[] | null }>(
    `SELECT b.credential_id, b.day, b.cap, b.used, array_agg(DISTINCT o.timezone) FILTER (WHERE o.timezone IS NOT NULL) AS timezones
       FROM crm_credential_buckets b
       LEFT JOIN crm_outboxes o ON o.company_id = b.company_id AND o.credential_id = b.credential_id AND o.deleted_at IS NULL
      WHERE b.company_id = $1 AND b.day = ANY($2::text[])
      GROUP BY b.credential_id, b.day, b.cap, b.used
      ORDER BY b.credential_id, b.day`,
    [companyId, days],
  );
  return rows.filter((r) => (r.timezones?.length ? r.timezones : ['UTC']).some((tz) => localDay(now, tz) === r.day)).map(bucketView);
}
