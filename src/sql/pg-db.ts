import pg from 'pg';
import type { Db, Queryable } from './db.js';

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query(text, params) {
      const r = await client.query(text, params as unknown[] | undefined);
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    },
    async exec(text) {
      await client.query(text);
    },
  };
}

export interface PgDbOptions {
  connectionString: string;
  max?: number;
  /** Postgres schema to put first on the search_path (tests and benchmarks isolate themselves this way). */
  schema?: string;
  applicationName?: string;
}

/** A `Db` on a PostgreSQL server through a `pg` pool. */
export function createPgDb(opts: PgDbOptions): Db {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 20,
    application_name: opts.applicationName ?? 'crm-outreach',
    // A schema per test run or bench run; `public` stays reachable for extensions.
    options: opts.schema ? `-c search_path=${opts.schema},public` : undefined,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that dies (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const base = wrap(pool);
  const listeners = new Set<pg.PoolClient>();

  return {
    kind: 'postgres',
    query: base.query,
    exec: base.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async session(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        return await fn(wrap(client));
      } catch (err) {
        broken = true;
        throw err;
      } finally {
        // A session may hold advisory locks: destroying it on error is the only way to be sure they go.
        client.release(broken);
      }
    },
    async listen(channel, onNotify) {
      const client = await pool.connect();
      listeners.add(client);
      const handler = (msg: pg.Notification) => {
        if (msg.channel === channel) onNotify();
      };
      client.on('notification', handler);
      client.on('error', () => {});
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        if (!listeners.delete(client)) return;
        client.off('notification', handler);
        await client.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
        client.release(true);
      };
    },
    async close() {
      for (const c of listeners) c.release(true);
      listeners.clear();
      await pool.end();
    },
  };
}
