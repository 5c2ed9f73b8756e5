import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.js';
import { templateFor } from './pglite-template.js';

interface PgliteLike {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(text: string): Promise<unknown>;
}

function wrap(client: PgliteLike): Queryable {
  return {
    async query<R>(text: string, params?: unknown[]) {
      const r = await client.query<R>(text, params);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(text) {
      await client.exec(text);
    },
  };
}

/**
 * A `Db` on embedded PGlite: the zero-setup default. PGlite is one connection; its `transaction` holds it
 * exclusively, so concurrent callers queue, which is also what makes optimistic appends safe here.
 */
export async function createPgliteDb(dataDir?: string, options: { template?: string } = {}): Promise<Db> {
  const loadDataDir = templateFor(dataDir, options.template);
  return createPgliteDbOn(await PGlite.create(dataDir, loadDataDir ? { loadDataDir } : {}));
}

/** A `Db` on a PGlite instance already open. */
export function createPgliteDbOn(lite: PGlite): Db {
  const base = wrap(lite);
  return {
    kind: 'pglite',
    query: base.query,
    exec: base.exec,
    transaction(fn, options) {
      return lite.transaction(async (tx) => {
        if (options?.rebuildable) await tx.exec('SET LOCAL synchronous_commit TO off');
        return fn(wrap(tx));
      });
    },
    // One process owns a PGlite data folder, and it has one backend: a session is simply that backend.
    session(fn) {
      return fn(base);
    },
    async listen(channel, onNotify) {
      const unsub = await lite.listen(channel, (payload) => onNotify(payload));
      return async () => {
        await unsub();
      };
    },
    async close() {
      if (!lite.closed) await lite.close();
    },
  };
}
