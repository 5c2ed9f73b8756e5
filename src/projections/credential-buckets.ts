import type { QuotaBucketEvent } from '../domain/quota-bucket.js';
import type { Queryable } from '../sql/db.js';
import type { Projection } from './projection.js';

/** crm_credential_buckets: quota used per credential and day, counted from the bucket streams. */
export const credentialBucketsProjection: Projection = {
  name: 'credential_buckets',
  tables: ['crm_credential_buckets', 'crm_credential_bucket_units'],
  eventTypes: ['QuotaReserved', 'QuotaRefunded'],
  async apply(events, { tx, table }) {
    const buckets = table('crm_credential_buckets');
    const units = table('crm_credential_bucket_units');
    for (const e of events as unknown as QuotaBucketEvent[]) {
      const d = e.data;
      const key = [d.companyId, d.credentialId, d.day, d.activityId];
      if (e.type === 'QuotaReserved') {
        const { rowCount } = await tx.query(`INSERT INTO ${units} VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, key);
        if (rowCount === 0) continue;
        await tx.query(
          `INSERT INTO ${buckets} (company_id, credential_id, day, cap, used, updated_at) VALUES ($1, $2, $3, $4, 1, $5)
           ON CONFLICT (company_id, credential_id, day) DO UPDATE SET used = ${buckets}.used + 1, cap = excluded.cap, updated_at = excluded.updated_at`,
          [d.companyId, d.credentialId, d.day, e.data.cap, d.at],
        );
      } else {
        const { rowCount } = await tx.query(`DELETE FROM ${units} WHERE company_id = $1 AND credential_id = $2 AND day = $3 AND activity_id = $4`, key);
        if (rowCount === 0) continue;
        await tx.query(`UPDATE ${buckets} SET used = used - 1, updated_at = $4 WHERE company_id = $1 AND credential_id = $2 AND day = $3`, [
          d.companyId,
          d.credentialId,
          d.day,
          d.at,
        ]);
      }
    }
  },
};

export async function listCredentialBuckets(q: Queryable, companyId: string, day: string) {
  const { rows } = await q.query<{ credential_id: string; day: string; cap: number; used: number }>(
    `SELECT credential_id, day, cap, used FROM crm_credential_buckets WHERE company_id = $1 AND day = $2 ORDER BY credential_id`,
    [companyId, day],
  );
  return rows.map((r) => ({ credential: r.credential_id, day: r.day, cap: r.cap, used: r.used }));
}
