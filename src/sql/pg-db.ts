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

/** How long a caller waits for a connection (a free pool slot, or a server that answers) before a 503. */
const CONNECT_TIMEOUT_MS = 5000;
/** Reconnection of a LISTEN connection backs off up to this (ms), so it is back soon after the server is. */
const LISTEN_RETRY_MAX_MS = 1000;

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
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle client that dies (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  // pg emits 'error' on a client whose backend goes (a restart, pg_terminate_backend), and the pool listens
  // only while the client is idle: unheard, on a client held by a transaction or a session, or on one whose
  // first message after connecting is the termination (read in the same chunk, before its caller has it),
  // that event ends the process. Every client is heard from its first moment; the failure reaches its holder
  // as the next query's rejection ("not queryable"), and the pool never reuses such a client.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const base = wrap(pool);
  const listeners = new Set<pg.PoolClient>();

  return {
    kind: 'postgres',
    query: base.query,
    exec: base.exec,
    async transaction(fn, options) {
      const client = await pool.connect();
      let broken = false;
      try {
        // One round trip for both (a simple query may hold several statements).
        await client.query(options?.rebuildable ? 'BEGIN; SET LOCAL synchronous_commit TO off' : 'BEGIN');
        const out = await fn(wrap(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        // A ROLLBACK that fails too leaves the connection in an unknown state: it is not reused.
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        client.release(broken);
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
    /**
     * LISTEN on a dedicated connection that is re-established (with backoff) when it drops; after a reconnect
     * the listener is woken once, since notifications sent meanwhile are lost.
     */
    async listen(channel, onNotify) {
      let current: pg.PoolClient | null = null;
      let closed = false;
      const connect = async (): Promise<void> => {
        const c = await pool.connect();
        const onError = () => {
          if (current !== c) return;
          current = null;
          listeners.delete(c);
          c.release(true);
          void retry();
        };
        c.on('notification', (msg: pg.Notification) => {
          if (msg.channel === channel) onNotify(msg.payload ?? '');
        });
        c.on('error', onError);
        c.on('end', onError);
        try {
          await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (err) {
          // Not yet `current`, so onError left it: destroyed here, not leaked.
          c.release(true);
          throw err;
        }
        current = c;
        listeners.add(c);
      };
      const retry = async () => {
        for (let delay = 100; !closed; delay = Math.min(delay * 2, LISTEN_RETRY_MAX_MS)) {
          await new Promise((r) => setTimeout(r, delay));
          if (closed) return;
          try {
            await connect();
            onNotify(null);
            return;
          } catch {
            /* still down: try again later */
          }
        }
      };
      await connect();
      return async () => {
        closed = true;
        const c = current;
        current = null;
        if (!c || !listeners.delete(c)) return;
        await c.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
        c.release(true);
      };
    },
    async close() {
      for (const c of listeners) c.release(true);
      listeners.clear();
      await pool.end();
    },
  };
}
