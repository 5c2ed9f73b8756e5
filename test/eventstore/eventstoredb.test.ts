import { randomUUID } from 'node:crypto';
import { KurrentDBClient } from '@kurrent/kurrentdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNT_CAP, createEventStoreDbStore } from '../../src/eventstore/eventstoredb.js';
import {
  type AppendResult,
  type EventStore,
  EventStoreError,
  EventStoreUnavailableError,
  IdempotencyConflictError,
  StreamDeletedError,
  StreamNotFoundError,
} from '../../src/eventstore/port.js';
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

// Every run: the real client (@kurrent/kurrentdb-client) over gRPC against the stand-in (not EventStoreDB; see its
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
 * Findings of issue 15 about the adapter, shown through the real client against the stand-in. Each case
 * states what the port promises; each failed before the adapter's fix for the reason in its comment.
 */
describe('eventstoredb adapter, issue 15 findings, real client against the stand-in', () => {
  // Short, so the stalled-node cases take a second: the production default is DEFAULT_DEADLINE_MS (10 s).
  const DEADLINE_MS = 1_000;
  let standin: EsdbStandin;
  let store: EventStore;
  const stream = () => `gaps-${randomUUID()}`;
  const ev = () => ({ type: 'Happened', data: { n: 1 } });

  beforeAll(async () => {
    standin = await startEsdbStandin();
    store = await createEventStoreDbStore(standin.url, { deadlineMs: DEADLINE_MS });
  });
  afterAll(async () => {
    standin?.unstall();
    await store?.close();
    await standin?.stop();
  });

  async function deleted(how: 'soft' | 'tombstone') {
    const name = stream();
    await store.append(name, [ev(), ev()], 'no_stream');
    const client = KurrentDBClient.connectionString(standin.url);
    try {
      if (how === 'soft') await client.deleteStream(name);
      else await client.tombstoneStream(name);
    } finally {
      await client.dispose();
    }
    return name;
  }

  // Finding 5: the client's StreamDeletedError came through unmapped (a 500 at the HTTP edge).
  it('finding 5: an append to a tombstoned stream is a port error (StreamDeletedError)', async () => {
    const name = await deleted('tombstone');
    await expect(store.append(name, [ev()], 'any')).rejects.toBeInstanceOf(StreamDeletedError);
  });

  it('finding 5: a read of a tombstoned stream is a port error (not found, as a soft-deleted one reads)', async () => {
    const name = await deleted('tombstone');
    await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  // Finding 5: the node writes a no_stream append to a soft-deleted stream at revision N (the port says 0).
  it('finding 5: no_stream on a soft-deleted stream is not answered with a revision other than 0', async () => {
    const name = await deleted('soft');
    const r = await store.append(name, [ev()], 'no_stream').catch((e: unknown) => e);
    expect(r instanceof EventStoreError || (r as AppendResult).nextExpectedRevision === 0).toBe(true);
    expect(r).toBeInstanceOf(StreamDeletedError);
  });

  it('finding 5: stream_exists on a soft-deleted stream is a port error', async () => {
    const name = await deleted('soft');
    await expect(store.append(name, [ev()], 'stream_exists')).rejects.toBeInstanceOf(StreamDeletedError);
  });

  // Finding 2: port.ts promises IdempotencyConflictError for an id stored in another stream (the node allows it).
  it('finding 2: an event id already stored in another stream is an IdempotencyConflictError', async () => {
    const id = randomUUID();
    const first = stream();
    await store.append(first, [{ id, ...ev() }], 'no_stream');
    const second = stream();
    await expect(store.append(second, [{ id, ...ev() }], 'no_stream')).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(store.readStream(second)).rejects.toBeInstanceOf(StreamNotFoundError);
    // ... and the claim keeps the id's own stream idempotent, and out of every reader's sight.
    expect((await store.append(first, [{ id, ...ev() }], 'no_stream')).duplicate).toBe(true);
    const all = await store.readAll({ maxCount: 100_000 });
    expect(all.filter((e) => e.id === id).map((e) => e.streamName)).toEqual([first]);
  });

  // Finding 4: the node committed the append and the reply was lost; a retry with the same ids tells.
  it('finding 4: an append whose reply is lost is answered (as a duplicate), not an error', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    standin.loseRepliesAfterCommit(1);
    // (The reply lost here is that of the id's claim, written first: the event itself is then written fresh.)
    const r = await store.append(name, [{ id: randomUUID(), ...ev() }], 0);
    expect(r.nextExpectedRevision).toBe(1);
    expect(await store.readStream(name)).toHaveLength(2);
  });

  it.each([0, 'any'] as const)(
    'finding 4: with generated ids and expected %s, the retry answers the commit as a duplicate',
    async (expected) => {
      const name = stream();
      await store.append(name, [ev()], 'no_stream');
      standin.loseRepliesAfterCommit(1);
      const r = await store.append(name, [ev(), ev()], expected);
      expect(r).toMatchObject({ nextExpectedRevision: 2, duplicate: true });
      expect(await store.readStream(name)).toHaveLength(3);
    },
  );

  // Finding 3: client 6.x kept ONE process-wide map of pending batch appends (dist/streams/appendToStream/
  // batchAppend.js), so a failing batch stream of one client rejected the appends in flight on every other
  // client's healthy stream, and the node still committed them. 1.3 keeps one per stream; the adapter appends
  // through the unary call either way (see useUnaryAppends), and this stays to hold it so.
  it("finding 3: one client's broken append does not fail another client's append in flight", async () => {
    const other = await createEventStoreDbStore(standin.url, { deadlineMs: DEADLINE_MS });
    try {
      const x = stream();
      const y = stream();
      await other.append(x, [ev()], 'no_stream');
      await store.append(y, [ev()], 'no_stream');
      standin.hold(x);
      const outcome = other.append(x, [ev()], 0).then(
        (r) => r.nextExpectedRevision,
        () => 'failed',
      );
      for (let i = 0; i < 100 && standin.held(x) === 0; i++) await new Promise((done) => setTimeout(done, 10));
      expect(standin.held(x)).toBe(1);
      standin.loseRepliesAfterCommit(1);
      await store.append(y, [ev()], 0).catch(() => undefined);
      const soon = await Promise.race([outcome, new Promise((done) => setTimeout(() => done('pending'), 200))]);
      expect(soon).toBe('pending');
      // On the batch path a reply now would find no pending entry and throw in a stream listener (the process ends).
      standin.release(x);
      expect(await outcome).toBe(1);
      expect(await other.readStream(x)).toHaveLength(2);
    } finally {
      await other.close();
    }
  });

  // Finding 6: the client read with `deadline: Infinity`, and its BatchAppend stream too (the per-append
  // deadline travels in the request for the node to enforce): a hung node hung the command. The patience is
  // the deadline plus a second.
  async function againstStalledNode(call: () => Promise<unknown>): Promise<unknown> {
    standin.stall();
    try {
      return await Promise.race([
        call().then(
          () => 'answered',
          (err: unknown) => err,
        ),
        new Promise((done) => setTimeout(() => done('no answer'), DEADLINE_MS + 1_000)),
      ]);
    } finally {
      standin.unstall();
    }
  }

  it('finding 6: a read against a stalled node fails within its deadline, as unavailable (a 503)', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    expect(await againstStalledNode(() => store.readStream(name))).toBeInstanceOf(EventStoreUnavailableError);
  });

  it('finding 6: an append against a stalled node fails within its deadline, as unavailable (a 503)', async () => {
    const name = stream();
    await store.append(name, [ev()], 'no_stream');
    expect(await againstStalledNode(() => store.append(name, [ev()], 0))).toBeInstanceOf(EventStoreUnavailableError);
  });

  it('finding 6: a $all read (a projection loop) against a stalled node fails within its deadline', async () => {
    expect(await againstStalledNode(() => store.readAll({ maxCount: 10 }))).toBeInstanceOf(EventStoreUnavailableError);
  });

  // Finding 7: countAfter (projection lag, for /readyz and /metrics) read every event up to the caller's cap
  // (the engine asks for 100k per projection).
  it('finding 7: countAfter reads at most COUNT_CAP events from the node', async () => {
    const [head] = await store.readAll({ maxCount: 1_000_000 }).then((all) => all.slice(-1));
    const name = stream();
    let expected: number | 'no_stream' = 'no_stream';
    for (let i = 0; i < 15; i++) {
      const r = await store.append(
        name,
        Array.from({ length: 100 }, () => ev()),
        expected,
      );
      expected = r.nextExpectedRevision;
    }
    const before = standin.eventsServed();
    const n = await store.countAfter(head!.position, 100_000);
    expect(n).toBe(COUNT_CAP);
    expect(standin.eventsServed() - before).toBeLessThanOrEqual(COUNT_CAP + 100);
  });
});
