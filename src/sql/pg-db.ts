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

/**
 * A pooled client held for a while (a transaction, a session). A held client has no listener of the pool's, and
 * pg emits 'error' on it when its backend goes (a server restart, pg_terminate_backend): unheard, that event
 * ends the process. This one is heard, and the client is then destroyed rather than returned to the pool.
 */
async function hold(pool: pg.Pool): Promise<{ client: pg.PoolClient; release(broken: boolean): void }> {
  const client = await pool.connect();
  let lost = false;
  const onError = () => {
    lost = true;
  };
  client.on('error', onError);
  return {
    client,
    release(broken) {
      client.removeListener('error', onError);
      client.release(broken || lost);
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
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
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
      const held = await hold(pool);
      let broken = false;
      try {
        await held.client.query('BEGIN');
        const out = await fn(wrap(held.client));
        await held.client.query('COMMIT');
        return out;
      } catch (err) {
        // A ROLLBACK that fails too leaves the connection in an unknown state: it is not reused.
        await held.client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        held.release(broken);
      }
    },
    async session(fn) {
      const held = await hold(pool);
      let broken = false;
      try {
        return await fn(wrap(held.client));
      } catch (err) {
        broken = true;
        throw err;
      } finally {
        // A session may hold advisory locks: destroying it on error is the only way to be sure they go.
        held.release(broken);
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
