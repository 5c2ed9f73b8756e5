import { type SecretEvent, secretNameKey } from '../domain/secret.js';
import { formatSecretRef } from '../secrets/secret-ref.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

/** Metadata of secrets only; values stay sealed in their streams. */
export const secretsProjection = defineProjection<SecretEvent>()({
  name: 'secrets',
  tables: ['crm_secrets'],
  on: {
    SecretCreated: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_secrets')} (id, company_id, name, latest_version, created_at, updated_at, created_by)
         VALUES ($1, $2, $3, 1, $4, $4, $5) ON CONFLICT (id) DO NOTHING`,
        [d.secretId, d.companyId, d.name, d.createdAt, d.createdBy],
      ),
    SecretVersionAdded: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_secrets')} SET latest_version = greatest(latest_version, $2), updated_at = $3 WHERE id = $1`, [
        d.secretId,
        d.version,
        d.addedAt,
      ]),
  },
});

interface SecretRow {
  id: string;
  name: string;
  latest_version: number;
  created_at: Date;
  updated_at: Date;
  created_by: string;
}

const view = (r: SecretRow) => ({
  id: r.id,
  name: r.name,
  latestVersion: r.latest_version,
  ref: formatSecretRef(r.id),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  createdBy: r.created_by,
});

export async function listSecrets(q: Queryable, companyId: string) {
  const { rows } = await q.query<SecretRow>(
    `SELECT id, name, latest_version, created_at, updated_at, created_by FROM crm_secrets WHERE company_id = $1 ORDER BY created_at, id`,
    [companyId],
  );
  return rows.map(view);
}

/** The instance's secrets (operators only): those of no company. */
export async function listInstanceSecrets(q: Queryable) {
  const { rows } = await q.query<SecretRow>(
    `SELECT id, name, latest_version, created_at, updated_at, created_by FROM crm_secrets WHERE company_id IS NULL ORDER BY created_at, id`,
  );
  return rows.map(view);
}

/** The id of a secret of `owner` (null: the instance) going by `name`, its case and spaces aside, if any. */
export async function secretIdNamed(q: Queryable, owner: string | null, name: string): Promise<string | null> {
  const { rows } = await q.query<{ id: string; name: string }>(
    `SELECT id, name FROM crm_secrets WHERE company_id IS NOT DISTINCT FROM $1::uuid AND lower(name) = lower($2) ORDER BY created_at, id`,
    [owner, name.trim()],
  );
  return rows.find((r) => secretNameKey(r.name) === secretNameKey(name))?.id ?? null;
}
