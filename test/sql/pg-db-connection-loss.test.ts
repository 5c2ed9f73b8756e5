import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/sql/db.js';
import { createPgDb } from '../../src/sql/pg-db.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { terminateConnections } from '../support/service-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A held connection whose backend is terminated must not end the process: an unheard 'error' event on a pg
 * client is an uncaught exception, which vitest reports as a failure of this file.
 */
describe.skipIf(!TEST_DATABASE_URL)(`pg Db when its connections are terminated${POSTGRES_SKIP_REASON}`, () => {
  let db: Db | null = null;
  let name = '';
  const open = () => {
    name = `crm-pgdb-${randomBytes(4).toString('hex')}`;
    db = createPgDb({ connectionString: TEST_DATABASE_URL!, applicationName: name, max: 4 });
    return db;
  };
  afterEach(async () => {
    await db?.close();
    db = null;
  });

  it('a session idle between queries: the error is heard, the next query rejects, the pool serves again', async () => {
    const d = open();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const outcome = d.session(async (s) => {
        await s.query('SELECT 1');
        await sleep(400); // idle, as leadership is between its checks
        await s.query('SELECT 1');
      });
      const settled = outcome.then(
        () => 'resolved',
        (e: Error) => e.message,
      );
      await sleep(150);
      expect(await terminateConnections(TEST_DATABASE_URL!, name)).toBeGreaterThanOrEqual(1);
      expect(await settled).toMatch(/not queryable|terminat/i);
      expect((await d.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('a transaction whose connection goes mid-way rolls back and rejects, and the next one commits', async () => {
    const d = open();
    await d.exec(`CREATE TEMP TABLE IF NOT EXISTS nothing (x int)`);
    const tx = d.transaction(async (q) => {
      await q.query('SELECT 1');
      await sleep(400);
      await q.query('SELECT 1');
    });
    const settled = tx.then(
      () => 'committed',
      (e: Error) => e.message,
    );
    await sleep(150);
    await terminateConnections(TEST_DATABASE_URL!, name);
    expect(await settled).not.toBe('committed');
    expect(await d.transaction(async (q) => (await q.query<{ two: number }>('SELECT 2 AS two')).rows[0]!.two)).toBe(2);
  });

  it('LISTEN is re-established after its connection is terminated, and the listener is told notifications may be lost', async () => {
    const d = open();
    const channel = `crm_test_${randomBytes(4).toString('hex')}`;
    const got: (string | null)[] = [];
    const unlisten = await d.listen(channel, (p) => got.push(p));
    await terminateConnections(TEST_DATABASE_URL!, name);
    for (let i = 0; i < 50 && !got.includes(null); i++) await sleep(100);
    expect(got).toContain(null);
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    await c.query(`SELECT pg_notify($1, 'after')`, [channel]);
    await c.end();
    for (let i = 0; i < 50 && !got.includes('after'); i++) await sleep(50);
    expect(got).toContain('after');
    await unlisten();
  });
});
