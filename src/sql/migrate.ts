import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from './db.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads `NNNN_name.sql` files from a folder, in version order. */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: Migration[] = [];
  for (const f of files) {
    const m = FILE.exec(f);
    if (!m) throw new Error(`migration file name must be NNNN_name.sql: ${f}`);
    out.push({ version: Number(m[1]), name: m[2]!, sql: await readFile(join(dir, f), 'utf8') });
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) throw new Error(`duplicate migration version ${out[i]!.version} in ${dir}`);
  }
  return out;
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

/**
 * Applies the migrations of one set (e.g. `eventstore`, `read_models`) that are not yet recorded, each in
 * its own transaction under a transaction-level advisory lock, so that several instances starting at once
 * apply each migration exactly once. Returns the versions applied now.
 */
export async function migrate(db: Db, set: string, migrations: Migration[]): Promise<number[]> {
  await db
    .exec(
      `CREATE TABLE IF NOT EXISTS crm_schema_migrations (
    set_name text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (set_name, version)
  )`,
    )
    .catch(async (err) => {
      // Two instances racing on CREATE TABLE IF NOT EXISTS can collide on the catalog; the loser just checks.
      const { rows } = await db.query(`SELECT to_regclass('crm_schema_migrations') IS NOT NULL AS ok`);
      if (!(rows[0] as { ok: boolean }).ok) throw err;
    });
  // What is recorded already, read once: a restart then costs one query, not a locked transaction per file.
  const { rows: recorded } = await db.query<{ version: number; checksum: string }>(
    `SELECT version, checksum FROM crm_schema_migrations WHERE set_name = $1`,
    [set],
  );
  const known = new Map(recorded.map((r) => [Number(r.version), r.checksum]));
  const applied: number[] = [];
  for (const m of migrations) {
    const seen = known.get(m.version);
    if (seen !== undefined) {
      if (seen !== checksum(m.sql)) throw new Error(`migration ${set}/${m.version}_${m.name} was changed after it was applied`);
      continue;
    }
    const done = await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('crm_schema_migrations'))`);
      const { rows } = await tx.query<{ checksum: string }>(
        `SELECT checksum FROM crm_schema_migrations WHERE set_name = $1 AND version = $2`,
        [set, m.version],
      );
      if (rows[0]) {
        if (rows[0].checksum !== checksum(m.sql)) {
          throw new Error(`migration ${set}/${m.version}_${m.name} was changed after it was applied`);
        }
        return false;
      }
      await tx.exec(m.sql);
      await tx.query(`INSERT INTO crm_schema_migrations (set_name, version, name, checksum) VALUES ($1, $2, $3, $4)`, [
        set,
        m.version,
        m.name,
        checksum(m.sql),
      ]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}
