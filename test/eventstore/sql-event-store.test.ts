import { describe } from 'vitest';
import { createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, pgliteDatabase, postgresDatabase } from '../support/databases.js';
import { eventStoreContract } from './contract.js';

eventStoreContract('pglite', async () => {
  const t = await pgliteDatabase();
  return { store: await createSqlEventStore(t.db), teardown: t.drop };
});

describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => {
  eventStoreContract('postgres', async () => {
    const t = await postgresDatabase();
    const store = await createSqlEventStore(t.db);
    // A second pool is a second "process": the race test spreads its writers over both.
    const other = await createSqlEventStore(t.connect());
    return { store, other, teardown: t.drop };
  });
});
