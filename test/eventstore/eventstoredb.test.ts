import { randomUUID } from 'node:crypto';
import { EventStoreDBClient } from '@eventstore/db-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStoreDbStore } from '../../src/eventstore/eventstoredb.js';
import { type AppendResult, type EventStore, EventStoreError, IdempotencyConflictError } from '../../src/eventstore/port.js';
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

/*
 * Findings of issue 15 about the adapter, shown through the real client against the stand-in. Each is
 * `it.fails`: it states what the port promises and fails today because the adapter does not give it. When
 * the adapter is fixed the case starts passing, so vitest reports it as a failure: turn it into `it` then.
 */
describe('eventstoredb adapter, known gaps (issue 15), real client against the stand-in', () => {
  let standin: EsdbStandin;
  let store: EventStore;
  const stream = () => `gaps-${randomUUID()}`;
  const ev = () => ({ type: 'Happened', data: { n: 1 } });

  beforeAll(async () => {
    standin = await startEsdbStandin();
    store = await createEventStoreDbStore(standin.url);
  });
  afterAll(async () => {
    standin?.unstall();
    await store?.close();
    await standin?.stop();
  });

  async function deleted(how: 'soft' | 'tombstone') {
    const name = stream();
    await store.append(name, [ev(), ev()], 'no_stream');
    const client = EventStoreDBClient.connectionString(standin.url);
    try {
      if (how === 'soft') await client.deleteStream(name);
      else await client.tombstoneStream(name);
    } finally {
      await client.dispose();
    }
    return name;
  }

  // Finding 5: the client's StreamDeletedError comes through unmapped (a 500 at the HTTP edge).
  it.fails('finding 5: an append to a tombstoned stream is a port error', async () => {
    const name = await deleted('tombstone');
    await expect(store.append(name, [ev()], 'any')).rejects.toBeInstanceOf(EventStoreError);
  });

  it.fails('finding 5: a read of a tombstoned stream is a port error', async () => {
    const name = await deleted('tombstone');
    await expect(store.readStream(name)).rejects.toBeInstanceOf(EventStoreError);
  });

  // Finding 5: the node writes a no_stream append to a soft-deleted stream at revision N (the port says 0).
  it.fails('finding 5: no_stream on a soft-deleted stream is not answered with a revision other than 0', async () => {
    const name = await deleted('soft');
    const r = await store.append(name, [ev()], 'no_stream').catch((e: unknown) => e);
    expect(r instanceof EventStoreError || (r as AppendResult).nextExpectedRevision === 0).toBe(true);
  });

  // Finding 2: port.ts promises IdempotencyConflictError for an id stored in another stream.
  it.fails('finding 2: an event id already stored in another stream is an IdempotencyConflictError', async () => {
    const id = randomUUID();
    await store.append(stream(), [{ id, ...ev() }], 'no_stream');
    await expect(store.append(stream(), [{ id, ...ev() }], 'no_stream')).rejects.toBeInstanceOf(IdempotencyConflictError);
  });

  // Finding 4: the node committed the append and the reply was lost; a retry with the same ids would tell.
  it.fails('finding 4: an append whose reply is lost is answered (as a duplicate), not an error', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    standin.loseRepliesAfterCommit(1);
    const r = await store.append(name, [{ id: randomUUID(), ...ev() }], 0);
    expect(r.nextExpectedRevision).toBe(1);
    expect(await store.readStream(name)).toHaveLength(2);
  });

  // Finding 3: the client keeps ONE process-wide map of pending batch appends (dist/streams/appendToStream/
  // batchAppend.js), so a failing batch stream of one client rejects the appends in flight on every other
  // client's healthy stream, and the node still commits them.
  it.fails("finding 3: one client's broken batch stream does not fail another client's append in flight", async () => {
    const other = await createEventStoreDbStore(standin.url);
    try {
      const x = stream();
      const y = stream();
      await other.append(x, [ev()], 'no_stream');
      await store.append(y, [ev()], 'no_stream');
      standin.hold(x);
      const outcome = other.append(x, [ev()], 0).then(
        () => 'answered',
        () => 'failed',
      );
      for (let i = 0; i < 100 && standin.held(x) === 0; i++) await new Promise((done) => setTimeout(done, 10));
      expect(standin.held(x)).toBe(1);
      standin.loseRepliesAfterCommit(1);
      await store.append(y, [ev()], 0).catch(() => undefined);
      standin.release(x, { reply: false }); // committed; its reply would crash the process (no pending entry)
      expect(await other.readStream(x)).toHaveLength(2);
      expect(await Promise.race([outcome, new Promise((done) => setTimeout(() => done('pending'), 200))])).not.toBe('failed');
    } finally {
      await other.close();
    }
  });

  // Finding 6: the client reads with `deadline: Infinity`, and its BatchAppend stream too (the per-append
  // deadline travels in the request for the node to enforce): a hung node hangs the command. The 2 s is this
  // test's patience, not a proposed deadline: a fix with a longer one should set its own figure here.
  async function againstStalledNode(call: () => Promise<unknown>): Promise<string> {
    standin.stall();
    try {
      return (await Promise.race([
        call().then(
          () => 'answered',
          () => 'failed',
        ),
        new Promise((done) => setTimeout(() => done('no answer'), 2_000)),
      ])) as string;
    } finally {
      standin.unstall();
    }
  }

  it.fails('finding 6: a read against a stalled node fails within 2 s', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    expect(await againstStalledNode(() => store.readStream(name))).toBe('failed');
  });

  it.fails('finding 6: an append against a stalled node fails within 2 s', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    expect(await againstStalledNode(() => store.append(name, [ev()], 0))).toBe('failed');
  });
});
