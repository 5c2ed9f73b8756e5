import { describe } from 'vitest';
import { createEventStoreDbStore } from '../../src/eventstore/eventstoredb.js';
import { eventStoreContract } from './contract.js';

// e.g. TEST_EVENTSTORE_URL='esdb://localhost:2113?tls=false' with `docker compose up eventstore`.
const url = process.env.TEST_EVENTSTORE_URL;

describe.skipIf(!url)(`eventstoredb${url ? '' : ' (skipped: TEST_EVENTSTORE_URL not set)'}`, () => {
  eventStoreContract('eventstoredb', async () => {
    const store = await createEventStoreDbStore(url!);
    // A second client is a second "process": the race test spreads its writers over both.
    const other = await createEventStoreDbStore(url!);
    await store.ping();
    return {
      store,
      other,
      teardown: async () => {
        await Promise.all([store.close(), other.close()]);
      },
    };
  });
});
