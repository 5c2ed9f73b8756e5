import { randomUUID } from 'node:crypto';
import {
  ANY,
  BACKWARDS,
  END,
  KurrentDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AppendStreamState,
  type ResolvedEvent,
} from '@kurrent/kurrentdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EsdbStandin, startEsdbStandin } from './esdb-standin.js';

/*
 * The stand-in's rules, pinned through the real client (no adapter in between). The same cases run against a
 * real node when TEST_EVENTSTORE_URL is set: where the two disagree, the stand-in is wrong. Cases that need the
 * stand-in's switches (cache eviction, outages) run against it only.
 */

async function collect<E extends ResolvedEvent>(read: AsyncIterable<E>): Promise<E[]> {
  const out: E[] = [];
  for await (const e of read) out.push(e);
  return out;
}

const ev = (id: string = randomUUID(), data: Record<string, unknown> = { n: 1 }) => jsonEvent({ id, type: 'Ruled', data });
const name = () => `rules-${randomUUID()}`;

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

function rules(label: string, target: () => { client: KurrentDBClient }) {
  describe(`EventStoreDB rules through the real client: ${label}`, () => {
    let client: KurrentDBClient;
    beforeAll(() => {
      client = target().client;
    });
    const append = (stream: string, events: ReturnType<typeof ev>[], streamState: AppendStreamState) =>
      client.appendToStream(stream, events, { streamState });
    const revisions = async (stream: string) => (await collect(client.readStream(stream))).map((e) => Number(e.event!.revision));

    it('a wrong expected revision names the actual one, in each mode', async () => {
      const s = name();
      await append(s, [ev(), ev()], NO_STREAM);
      for (const [expected, actual] of [
        [NO_STREAM, 1n],
        [0n, 1n],
        [5n, 1n],
      ] as const) {
        const err = await failure(append(s, [ev()], expected));
        expect(err).toBeInstanceOf(WrongExpectedVersionError);
        expect((err as WrongExpectedVersionError).actualState).toBe(actual);
      }
      for (const expected of [STREAM_EXISTS, 0n] as const) {
        const err = await failure(append(name(), [ev()], expected));
        expect(err).toBeInstanceOf(WrongExpectedVersionError);
        expect((err as WrongExpectedVersionError).actualState).toBe('no_stream');
      }
      expect(await revisions(s)).toEqual([0, 1]);
    });

    it('repeating an append (same ids, same expected revision) writes nothing and answers the first result', async () => {
      for (const expected of [NO_STREAM, 0n, ANY, STREAM_EXISTS] as const) {
        const s = name();
        if (expected !== NO_STREAM) await append(s, [ev()], NO_STREAM);
        const events = [ev(), ev()];
        const first = await append(s, events, expected);
        const again = await append(s, events, expected);
        expect(again.nextExpectedRevision).toBe(first.nextExpectedRevision);
        expect(again.position).toEqual(first.position);
        expect(await revisions(s)).toHaveLength(expected === NO_STREAM ? 2 : 3);
      }
    });

    it('is not idempotent when the expected revision is the current one: the ids are written again', async () => {
      const s = name();
      const events = [ev()];
      const first = await append(s, events, NO_STREAM);
      const again = await append(s, events, first.nextExpectedRevision);
      expect(again.nextExpectedRevision).toBe(1n);
      const ids = (await collect(client.readStream(s))).map((e) => e.event!.id);
      expect(ids).toEqual([events[0]!.id, events[0]!.id]);
    });

    it('ids partly stored after the expected revision, or an append longer than what is stored: wrong expected version', async () => {
      const s = name();
      const a = ev();
      const b = ev();
      await append(s, [a, b], NO_STREAM);
      for (const events of [
        [a, ev()],
        [a, b, ev()],
      ]) {
        const err = await failure(append(s, events, NO_STREAM));
        expect(err).toBeInstanceOf(WrongExpectedVersionError);
        expect((err as WrongExpectedVersionError).actualState).toBe(1n);
      }
      // With `any`: the first id known and a later one not is refused the same way.
      expect(await failure(append(s, [b, ev()], ANY))).toBeInstanceOf(WrongExpectedVersionError);
      expect(await revisions(s)).toEqual([0, 1]);
    });

    it('an id reused in another stream does not stop the write (ids are per stream)', async () => {
      const a = ev();
      await append(name(), [a], NO_STREAM);
      const other = name();
      const r = await append(other, [a], NO_STREAM);
      expect(r.nextExpectedRevision).toBe(0n);
      expect(await revisions(other)).toEqual([0]);
    });

    it('$all: commit = prepare per event, increasing; a forward read from a position includes it; system events are in it', async () => {
      const s = name();
      await append(s, [ev(undefined, { k: 1 }), ev(undefined, { k: 2 }), ev(undefined, { k: 3 })], NO_STREAM);
      const [last] = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
      expect(last).toBeDefined();
      const tail = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 200 }));
      const mine = tail.filter((e) => e.event?.streamId === s).reverse();
      expect(mine.map((e) => (e.event!.data as { k: number }).k)).toEqual([1, 2, 3]);
      for (const e of mine) expect(e.event!.position!.commit).toBe(e.event!.position!.prepare);
      expect(mine[0]!.event!.position!.commit < mine[1]!.event!.position!.commit).toBe(true);
      const from = await collect(client.readAll({ direction: FORWARDS, fromPosition: mine[1]!.event!.position!, maxCount: 2 }));
      expect(from.map((e) => e.event!.id)).toEqual([mine[1]!.event!.id, mine[2]!.event!.id]);
      const head = await collect(client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 50 }));
      expect(head.some((e) => e.event!.streamId.startsWith('$') || e.event!.type.startsWith('$'))).toBe(true);
    });

    it('a soft-deleted stream reads as not found; no_stream appends continue at the next revision; stream_exists is StreamDeleted', async () => {
      const s = name();
      await append(s, [ev(), ev()], NO_STREAM);
      await client.deleteStream(s);
      expect(await failure(collect(client.readStream(s)))).toBeInstanceOf(StreamNotFoundError);
      expect(await failure(append(s, [ev()], STREAM_EXISTS))).toBeInstanceOf(StreamDeletedError);
      const r = await append(s, [ev()], NO_STREAM);
      expect(r.nextExpectedRevision).toBe(2n);
      expect(await revisions(s)).toEqual([2]);
      const meta = await collect(client.readStream(`$$${s}`, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }));
      expect(meta[0]!.event!.type).toBe('$metadata');
    });

    it('a tombstoned stream: reads and appends are StreamDeleted, whatever the expected revision', async () => {
      const s = name();
      await append(s, [ev()], NO_STREAM);
      await client.tombstoneStream(s);
      expect(await failure(collect(client.readStream(s)))).toBeInstanceOf(StreamDeletedError);
      for (const expected of [ANY, NO_STREAM, 0n, STREAM_EXISTS] as const) {
        expect(await failure(append(s, [ev()], expected))).toBeInstanceOf(StreamDeletedError);
      }
    });

    it('a subscription to $all from the end sees new user events, and none of the system ones with the system filter', async () => {
      const s = name();
      const sub = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
      const seen: string[] = [];
      const got = new Promise<void>((resolve) => {
        sub.on('data', (e: ResolvedEvent) => {
          seen.push(`${e.event!.streamId}/${e.event!.type}`);
          if (e.event!.streamId === s) resolve();
        });
      });
      await new Promise<void>((resolve) => sub.once('confirmation', () => resolve()));
      await append(s, [ev()], NO_STREAM);
      await got;
      await sub.unsubscribe();
      expect(seen.filter((x) => x.includes('$'))).toEqual([]);
      expect(seen).toContain(`${s}/Ruled`);
    });
  });
}

describe('the stand-in', () => {
  let standin: EsdbStandin;
  let client: KurrentDBClient;
  beforeAll(async () => {
    standin = await startEsdbStandin();
    client = KurrentDBClient.connectionString(standin.url);
  });
  afterAll(async () => {
    await client?.dispose();
    await standin?.stop();
  });

  rules('stand-in, BatchAppend', () => ({ client }));

  describe('only on the stand-in (it has the switches)', () => {
    it('`any` relies on a bounded cache of recent ids: once an id is evicted, its repeat is written again', async () => {
      const small = await startEsdbStandin({ idempotencyCacheSize: 2 });
      const c = KurrentDBClient.connectionString(small.url);
      try {
        const s = name();
        const first = ev();
        await c.appendToStream(s, [first], { streamState: ANY });
        expect((await c.appendToStream(s, [first], { streamState: ANY })).nextExpectedRevision).toBe(0n);
        await c.appendToStream(s, [ev(), ev()], { streamState: ANY }); // evicts `first`
        expect((await c.appendToStream(s, [first], { streamState: ANY })).nextExpectedRevision).toBe(3n);
        // An exact revision does not depend on the cache: the stored events are compared.
        expect((await c.appendToStream(s, [first], { streamState: NO_STREAM })).nextExpectedRevision).toBe(0n);
      } finally {
        await c.dispose();
        await small.stop();
      }
    });

    it('goes unavailable and comes back on the same port with its log; the same client reconnects', async () => {
      const s = name();
      await client.appendToStream(s, [ev()], { streamState: NO_STREAM });
      const port = standin.port;
      await standin.goUnavailable();
      const err = await failure(client.appendToStream(s, [ev()], { streamState: 0n }));
      expect(err).toBeInstanceOf(Error);
      expect(await failure(collect(client.readStream(s)))).toBeInstanceOf(Error);
      await standin.comeBack();
      expect(standin.port).toBe(port);
      // The client drops its channel on UNAVAILABLE and dials again on the next call.
      let r;
      for (let i = 0; i < 20 && !r; i++) {
        r = await client.appendToStream(s, [ev()], { streamState: 0n }).catch(() => undefined);
        if (!r) await new Promise((done) => setTimeout(done, 50));
      }
      expect(r?.nextExpectedRevision).toBe(1n);
      expect((await collect(client.readStream(s))).map((e) => Number(e.event!.revision))).toEqual([0, 1]);
    });

    it('loses a reply after the commit: the append fails, its events are stored, and its retry is idempotent', async () => {
      const s = name();
      await client.appendToStream(s, [ev()], { streamState: NO_STREAM });
      const events = [ev(), ev()];
      standin.loseRepliesAfterCommit(1);
      expect(await failure(client.appendToStream(s, events, { streamState: 0n }))).toBeInstanceOf(Error);
      let retry;
      for (let i = 0; i < 20 && !retry; i++) {
        retry = await client.appendToStream(s, events, { streamState: 0n }).catch(() => undefined);
        if (!retry) await new Promise((done) => setTimeout(done, 50));
      }
      expect(retry?.nextExpectedRevision).toBe(2n);
      expect((await collect(client.readStream(s))).map((e) => e.event!.id)).toEqual([expect.any(String), events[0]!.id, events[1]!.id]);
    });

    it('stalls: calls are accepted and not answered (BatchAppend and reads carry no client deadline)', async () => {
      const s = name();
      await client.appendToStream(s, [ev()], { streamState: NO_STREAM });
      standin.stall();
      try {
        const settled = (p: Promise<unknown>) =>
          Promise.race([
            p.then(
              () => 'answered',
              () => 'failed',
            ),
            new Promise((done) => setTimeout(() => done('no answer'), 300)),
          ]);
        // The client's batch-append deadline travels in the request for the node to enforce; nobody enforces it here.
        expect(await settled(client.appendToStream(s, [ev()], { streamState: 0n, deadline: 100 }))).toBe('no answer');
        const read = client.readStream(s);
        expect(await settled(collect(read))).toBe('no answer');
        void read.return?.();
      } finally {
        standin.unstall();
      }
    });
  });

  describe('with the unary Append (a node without BatchAppend in its features)', () => {
    let unary: EsdbStandin;
    let unaryClient: KurrentDBClient;
    beforeAll(async () => {
      unary = await startEsdbStandin({ batchAppend: false });
      unaryClient = KurrentDBClient.connectionString(unary.url);
    });
    afterAll(async () => {
      await unaryClient?.dispose();
      await unary?.stop();
    });
    rules('stand-in, unary Append', () => ({ client: unaryClient }));
  });
});

const url = process.env.TEST_EVENTSTORE_URL;
describe.skipIf(!url)(`a real EventStoreDB${url ? '' : ' (skipped: TEST_EVENTSTORE_URL not set)'}`, () => {
  let client: KurrentDBClient;
  beforeAll(() => {
    client = KurrentDBClient.connectionString(url!);
  });
  afterAll(async () => {
    await client?.dispose();
  });
  rules('real node', () => ({ client }));
});
