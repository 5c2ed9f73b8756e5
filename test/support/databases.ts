import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/sql/db.js';
import { createPgDb } from '../../src/sql/pg-db.js';
import { createPgliteDb } from '../../src/sql/pglite-db.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** Why a Postgres suite is skipped, in its title, so a skipped run is visible as such. */
export const POSTGRES_SKIP_REASON = TEST_DATABASE_URL ? '' : ' (skipped: TEST_DATABASE_URL not set)';

export interface TestDatabase {
  db: Db;
  /** For a second, independent pool on the same database (two "processes"). */
  connect(): Db;
  drop(): Promise<void>;
}

/** An in-memory PGlite. */
export async function pgliteDatabase(): Promise<TestDatabase> {
  const db = await createPgliteDb();
  return {
    db,
    connect: () => {
      throw new Error('PGlite is one process: no second connection');
    },
    drop: () => db.close(),
  };
}

/** A fresh schema in TEST_DATABASE_URL, dropped afterwards. */
export async function postgresDatabase(max = 20): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pools: Db[] = [];
  const connect = () => {
    const d = createPgDb({ connectionString: TEST_DATABASE_URL, schema, max });
    pools.push(d);
    return d;
  };
  const db = connect();
  return {
    db,
    connect,
    async drop() {
      for (const p of pools) await p.close().catch(() => {});
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}
