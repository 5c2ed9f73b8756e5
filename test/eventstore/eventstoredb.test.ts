import { afterAll, beforeAll, describe } from 'vitest';
import { createEventStoreDbStore } from '../../src/eventstore/eventstoredb.js';
import { eventStoreContract } from './contract.js';
import { type EsdbStandin, startEsdbStandin } from './standin/esdb-standin.js';

async function connect(url: string) {
  const store = await createEventStoreDbStore(url);
  // A second client is a second "process": the race test spreads its writers over both.
  const other = await createEventStoreDbStore(url);
  await store.ping();
  return {
    store,
    other,
    teardown: async () => {
      await Promise.all([store.close(), other.close()]);
    },
  };
}

// Every run: the real client (@eventstore/db-client) over gRPC against the stand-in (not EventStoreDB; see its
// header for which of the node's rules it implements and where they come from).
describe('eventstoredb adapter, real client, against the EventStoreDB stand-in (test/eventstore/standin)', () => {
  let standin: EsdbStandin;
  beforeAll(async () => {
    // System events every 25 ms land between the contract's own, as a node's $stats events do (every 30 s).
    standin = await startEsdbStandin({ statsIntervalMs: 25 });
  });
  afterAll(async () => {
    await standin?.stop();
  });

  eventStoreContract('eventstoredb via the stand-in', () => connect(standin.url));
});

// e.g. TEST_EVENTSTORE_URL='esdb://localhost:2113?tls=false' with `docker compose up eventstore`.
const url = process.env.TEST_EVENTSTORE_URL;

describe.skipIf(!url)(
  `eventstoredb adapter, real client, against a real EventStoreDB${url ? '' : ' (skipped: TEST_EVENTSTORE_URL not set)'}`,
  () => {
    eventStoreContract('eventstoredb (real server)', () => connect(url!));
  },
);
