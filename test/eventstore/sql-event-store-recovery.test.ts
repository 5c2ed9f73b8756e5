import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStoreSettingsError, createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import type { Db } from '../../src/sql/db.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, postgresDatabase } from '../support/databases.js';

/** Behaviour of the SQL adapter itself (the contract suite covers what every adapter shares). */
describe.skipIf(!TEST_DATABASE_URL)(`SQL event store on postgres, beyond the contract${POSTGRES_SKIP_REASON}`, () => {
  let t: Awaited<ReturnType<typeof postgresDatabase>>;
  beforeAll(async () => {
    t = await postgresDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('a grouped append that committed but lost its reply is answered as written, not as a conflict', async () => {
    let loseNextGroupReply = false;
    // The server commits the batch; the client never hears back (a dropped connection after COMMIT).
    const db = {
      ...t.db,
      kind: t.db.kind,
      query: async (text: string, params?: unknown[]) => {
        const r = await t.db.query(text, params);
        if (loseNextGroupReply && text.includes('crm_es_append_batch(') && (params![0] as string[]).length > 1) {
          loseNextGroupReply = false;
          throw new Error('Connection terminated unexpectedly');
        }
        return r;
      },
    } as Db;
    const store = await createSqlEventStore(db);
    await store.append('recovery-warm', [{ type: 'Warm', data: {} }], 'no_stream');
    loseNextGroupReply = true;
    // The first append goes alone; the next ones wait for it and go together, in one batch.
    const first = store.append('recovery-0', [{ type: 'X', data: {} }], 'no_stream');
    const grouped = [
      store.append('recovery-1', [{ type: 'X', data: {} }], 'no_stream'),
      store.append('recovery-2', [{ type: 'X', data: {} }], 'no_stream'),
      store.append('recovery-3', [{ type: 'X', data: {} }], 'any'),
    ];
    await first;
    const results = await Promise.all(grouped);
    expect(loseNextGroupReply).toBe(false); // the group did go, and its reply was lost
    expect(results.map((r) => [r.nextExpectedRevision, r.duplicate])).toEqual([
      [0, true],
      [0, true],
      [0, true],
    ]);
    for (const s of ['recovery-1', 'recovery-2', 'recovery-3']) expect(await store.readStream(s)).toHaveLength(1);
  });

  it('refuses to start when PostgreSQL does not keep enough of each statement for the read horizon', async () => {
    const db = {
      ...t.db,
      kind: t.db.kind,
      query: async (text: string, params?: unknown[]) =>
        text.includes('track_activity_query_size') ? { rows: [{ tracked: true, size: 20 }], rowCount: 1 } : t.db.query(text, params),
    } as Db;
    await expect(createSqlEventStore(db)).rejects.toThrow(EventStoreSettingsError);
  });
});
