import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EventStore,
  type ExpectedRevision,
  IdempotencyConflictError,
  InvalidEventError,
  InvalidExpectedRevisionError,
  InvalidStreamNameError,
  type Position,
  type RecordedEvent,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  comparePositions,
} from '../../src/eventstore/port.js';

export interface ContractSetup {
  store: EventStore;
  /** A second store on the same backend (another "process"), when the backend has one. */
  other?: EventStore;
  teardown: () => Promise<void>;
}

const ev = (type = 'Happened', data: Record<string, unknown> = { n: 1 }) => ({ type, data });

async function expectConflict(p: Promise<unknown>, expected: ExpectedRevision, actual: number | 'no_stream') {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WrongExpectedRevisionError);
  expect((err as WrongExpectedRevisionError).expected).toEqual(expected);
  expect((err as WrongExpectedRevisionError).actual).toEqual(actual);
}

/** The one contract every event store adapter passes. */
export function eventStoreContract(label: string, setup: () => Promise<ContractSetup>): void {
  describe(`event store contract: ${label}`, () => {
    let s: ContractSetup;
    let store: EventStore;
    // Unique per run, so a shared server (EventStoreDB) can host many runs.
    const stream = (category = 'contract') => `${category}-${randomUUID()}`;

    beforeAll(async () => {
      s = await setup();
      store = s.store;
    }, 60_000);
    afterAll(async () => {
      await s?.teardown();
    });

    describe('expected revision', () => {
      it('no_stream creates a stream at revision 0', async () => {
        const name = stream();
        const r = await store.append(name, [ev()], 'no_stream');
        expect(r.nextExpectedRevision).toBe(0);
        expect(r.duplicate).toBe(false);
        const events = await store.readStream(name);
        expect(events.map((e) => e.revision)).toEqual([0]);
      });

      it('no_stream on an existing stream is a conflict carrying the actual revision', async () => {
        const name = stream();
        await store.append(name, [ev(), ev()], 'no_stream');
        await expectConflict(store.append(name, [ev()], 'no_stream'), 'no_stream', 1);
        expect(await store.readStream(name)).toHaveLength(2);
      });

      it('stream_exists on a missing stream is a conflict, and creates nothing', async () => {
        const name = stream();
        await expectConflict(store.append(name, [ev()], 'stream_exists'), 'stream_exists', 'no_stream');
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('stream_exists on an existing stream appends', async () => {
        const name = stream();
        await store.append(name, [ev()], 'no_stream');
        const r = await store.append(name, [ev(), ev()], 'stream_exists');
        expect(r.nextExpectedRevision).toBe(2);
      });

      it('any appends to a missing and to an existing stream', async () => {
        const name = stream();
        expect((await store.append(name, [ev()], 'any')).nextExpectedRevision).toBe(0);
        expect((await store.append(name, [ev()], 'any')).nextExpectedRevision).toBe(1);
      });

      it('an exact revision appends only when it is the current one', async () => {
        const name = stream();
        await store.append(name, [ev()], 'no_stream');
        expect((await store.append(name, [ev()], 0)).nextExpectedRevision).toBe(1);
        await expectConflict(store.append(name, [ev()], 0), 0, 1);
        await expectConflict(store.append(name, [ev()], 5), 5, 1);
        expect(await store.readStream(name)).toHaveLength(2);
      });

      it('an exact revision on a missing stream is a conflict with actual no_stream', async () => {
        const name = stream();
        await expectConflict(store.append(name, [ev()], 0), 0, 'no_stream');
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('reading a stream', () => {
      it('reads forwards, backwards, from a revision, with a count', async () => {
        const name = stream();
        await store.append(
          name,
          Array.from({ length: 5 }, (_, i) => ev('Numbered', { i })),
          'no_stream',
        );
        expect((await store.readStream(name)).map((e) => e.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
        expect((await store.readStream(name, { direction: 'backwards' })).map((e) => e.revision)).toEqual([4, 3, 2, 1, 0]);
        expect((await store.readStream(name, { fromRevision: 2 })).map((e) => e.revision)).toEqual([2, 3, 4]);
        expect((await store.readStream(name, { fromRevision: 2, maxCount: 2 })).map((e) => e.revision)).toEqual([2, 3]);
        expect((await store.readStream(name, { direction: 'backwards', fromRevision: 2, maxCount: 2 })).map((e) => e.revision)).toEqual([
          2, 1,
        ]);
        expect((await store.readStream(name, { direction: 'backwards', maxCount: 1 })).map((e) => e.revision)).toEqual([4]);
      });

      it('tells a missing stream from an empty range', async () => {
        const name = stream();
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
        await store.append(name, [ev()], 'no_stream');
        expect(await store.readStream(name, { fromRevision: 10 })).toEqual([]);
      });

      it('keeps type, data, metadata, id and a recorded time', async () => {
        const name = stream();
        const id = randomUUID();
        const before = Date.now();
        await store.append(
          name,
          [
            {
              id,
              type: 'Shaped',
              data: { a: 'é', nested: { list: [1, null, true] } },
              metadata: { correlationId: 'c-1', schemaVersion: 2 },
            },
          ],
          'no_stream',
        );
        const [e] = await store.readStream(name);
        expect(e).toMatchObject({ id, streamName: name, type: 'Shaped', revision: 0 });
        expect(e!.data).toEqual({ a: 'é', nested: { list: [1, null, true] } });
        expect(e!.metadata).toMatchObject({ correlationId: 'c-1', schemaVersion: 2 });
        expect(e!.recordedAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
        expect(e!.recordedAt.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
      });
    });

    describe('idempotency', () => {
      it('re-appending stored event ids writes nothing and returns the first result', async () => {
        const name = stream();
        const events = [
          { id: randomUUID(), ...ev() },
          { id: randomUUID(), ...ev() },
        ];
        const first = await store.append(name, events, 'no_stream');
        const again = await store.append(name, events, 'no_stream');
        expect(again.duplicate).toBe(true);
        expect(again.nextExpectedRevision).toBe(first.nextExpectedRevision);
        expect(comparePositions(again.position, first.position)).toBe(0);
        expect(await store.readStream(name)).toHaveLength(2);
      });

      it('a retry racing its original is applied once', async () => {
        const name = stream();
        const events = [{ id: randomUUID(), ...ev() }];
        const results = await Promise.all(Array.from({ length: 8 }, () => store.append(name, events, 'no_stream')));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(await store.readStream(name)).toHaveLength(1);
      });

      it('retries grouped with their original (one batch where the adapter groups) are answered as duplicates', async () => {
        const name = stream();
        for (const expected of ['no_stream', 0] as const) {
          // Appends already in flight make the next ones wait and go together.
          const warm = [store.append(stream(), [ev()], 'no_stream'), store.append(stream(), [ev()], 'no_stream')];
          const events = [{ id: randomUUID(), ...ev() }];
          const results = await Promise.all(Array.from({ length: 6 }, () => store.append(name, events, expected)));
          await Promise.all(warm);
          expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
          for (const r of results) expect(comparePositions(r.position, results[0]!.position)).toBe(0);
        }
        expect(await store.readStream(name)).toHaveLength(2);
      });

      it('an append whose ids are partly stored is refused', async () => {
        const name = stream();
        const a = { id: randomUUID(), ...ev() };
        await store.append(name, [a], 'no_stream');
        await expect(store.append(name, [a, { id: randomUUID(), ...ev() }], 'any')).rejects.toBeInstanceOf(IdempotencyConflictError);
        expect(await store.readStream(name)).toHaveLength(1);
      });

      // Every adapter gives it (EventStoreDB itself allows an id in several streams: that adapter claims ids),
      // and the webhook recorder relies on it: one id per provider event, whichever stream it lands on.
      it('an event id stored in another stream is refused, and writes nothing there', async () => {
        const first = stream();
        const second = stream();
        const a = { id: randomUUID(), ...ev() };
        await store.append(first, [a], 'no_stream');
        for (const expected of ['no_stream', 'any'] as const) {
          await expect(store.append(second, [a], expected)).rejects.toBeInstanceOf(IdempotencyConflictError);
        }
        await expect(store.readStream(second)).rejects.toBeInstanceOf(StreamNotFoundError);
        expect((await store.append(first, [a], 'any')).duplicate).toBe(true);
        expect(await store.readStream(first)).toHaveLength(1);
      });
    });

    describe('bad input writes nothing', () => {
      it.each([['nodash'], ['Upper-1'], ['$system-1'], ['a-'], [''], ['x'.repeat(300)], [42]])('stream name %j', async (name) => {
        await expect(store.append(name as string, [ev()], 'any')).rejects.toBeInstanceOf(InvalidStreamNameError);
      });

      it.each([['nostream'], [-1], [1.5], [Number.NaN], [null], ['3']])('expected revision %j', async (expected) => {
        const name = stream();
        await expect(store.append(name, [ev()], expected as ExpectedRevision)).rejects.toBeInstanceOf(InvalidExpectedRevisionError);
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      it.each([
        ['a BigInt', { n: 1n }],
        ['a function', { f: () => 1 }],
        ['a cycle', cyclic],
        ['NaN', { n: Number.NaN }],
        ['a Date', { d: new Date() }],
        ['not an object', 'text'],
      ])('event data with %s', async (_what, data) => {
        const name = stream();
        await expect(store.append(name, [{ type: 'Bad', data }, ev()], 'any')).rejects.toBeInstanceOf(InvalidEventError);
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('an empty append, a bad type or a bad id', async () => {
        const name = stream();
        await expect(store.append(name, [], 'any')).rejects.toBeInstanceOf(InvalidEventError);
        await expect(store.append(name, [{ type: '', data: {} }], 'any')).rejects.toBeInstanceOf(InvalidEventError);
        await expect(store.append(name, [{ id: 'not-a-uuid', type: 'T', data: {} }], 'any')).rejects.toBeInstanceOf(InvalidEventError);
        await expect(store.readStream(name)).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('$all', () => {
      it('reads in global order from an exclusive checkpoint', async () => {
        const a = stream('ordera');
        const b = stream('orderb');
        const start = await headPosition(store);
        await store.append(a, [ev('T', { k: 1 })], 'no_stream');
        await store.append(b, [ev('T', { k: 2 })], 'no_stream');
        await store.append(a, [ev('T', { k: 3 }), ev('T', { k: 4 })], 0);
        const mine = (await readAllAfter(store, start)).filter((e) => e.streamName === a || e.streamName === b);
        expect(mine.map((e) => e.data)).toEqual([{ k: 1 }, { k: 2 }, { k: 3 }, { k: 4 }]);
        for (let i = 1; i < mine.length; i++) expect(comparePositions(mine[i - 1]!.position, mine[i]!.position)).toBe(-1);
        const afterSecond = (await readAllAfter(store, mine[1]!.position)).filter((e) => e.streamName === a || e.streamName === b);
        expect(afterSecond.map((e) => e.data)).toEqual([{ k: 3 }, { k: 4 }]);
        expect(await store.countAfter(mine[1]!.position, 1000)).toBeGreaterThanOrEqual(2);
      });

      it('concurrent appends (grouped where the adapter groups them) each return their own last event and revision', async () => {
        const own = Array.from({ length: 12 }, (_, i) => stream(`pos${i}`));
        const shared = stream('posshared');
        const results = await Promise.all([
          ...own.map((s, i) =>
            store.append(
              s,
              Array.from({ length: 1 + (i % 3) }, (_, j) => ev('T', { i, j })),
              'no_stream',
            ),
          ),
          ...Array.from({ length: 5 }, (_, i) => store.append(shared, [ev('T', { i, j: 0 }), ev('T', { i, j: 1 })], 'any')),
        ]);
        for (const [i, s] of own.entries()) {
          const events = await store.readStream(s);
          expect(results[i]!.nextExpectedRevision).toBe(events.length - 1);
          expect(results[i]!.position).toEqual(events.at(-1)!.position);
        }
        const sharedEvents = await store.readStream(shared);
        expect(sharedEvents).toHaveLength(10);
        for (const r of results.slice(own.length)) {
          const last = sharedEvents[r.nextExpectedRevision]!;
          expect(r.position).toEqual(last.position);
          expect((last.data as { j: number }).j).toBe(1); // an append's two events stay together, in order
          expect((sharedEvents[r.nextExpectedRevision - 1]!.data as { i: number }).i).toBe((last.data as { i: number }).i);
        }
      });

      it('8 concurrent writers x 500 appends: a live reader sees every event exactly once, in stream order', async () => {
        const WRITERS = 8;
        const APPENDS = 500;
        const streams = Array.from({ length: 12 }, () => stream('race'));
        const ours = new Set(streams);
        const start = await headPosition(store);
        const writerStores = [store, s.other ?? store];

        let writing = true;
        const seen: RecordedEvent[] = [];
        let wakeReader: () => void = () => {};
        const unsubscribe = await store.subscribe(() => wakeReader());
        const reader = (async () => {
          let cp = start;
          for (;;) {
            const batch = await store.readAll({ after: cp, maxCount: 500 });
            for (const e of batch) if (ours.has(e.streamName)) seen.push(e);
            if (batch.length > 0) {
              cp = batch[batch.length - 1]!.position;
              continue;
            }
            if (!writing && seen.length >= WRITERS * APPENDS) return;
            if (!writing && (await store.readAll({ after: cp, maxCount: 1 })).length === 0) return;
            await new Promise<void>((resolve) => {
              wakeReader = resolve;
              setTimeout(resolve, 20);
            });
          }
        })();

        const writer = async (w: number) => {
          const st = writerStores[w % writerStores.length]!;
          for (let i = 0; i < APPENDS; i++) {
            const name = streams[(w * 7 + i) % streams.length]!;
            const data = { w, i };
            if (w % 2 === 0) {
              await st.append(name, [{ type: 'Raced', data }], 'any');
              continue;
            }
            // Optimistic writers: read the head, append with the exact revision, retry on conflict.
            for (;;) {
              let expected: ExpectedRevision = 'no_stream';
              try {
                const [last] = await st.readStream(name, { direction: 'backwards', maxCount: 1 });
                if (last) expected = last.revision;
              } catch (e) {
                if (!(e instanceof StreamNotFoundError)) throw e;
              }
              try {
                await st.append(name, [{ type: 'Raced', data }], expected);
                break;
              } catch (e) {
                if (!(e instanceof WrongExpectedRevisionError)) throw e;
              }
            }
          }
        };
        await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
        writing = false;
        wakeReader();
        await reader;
        await unsubscribe();

        expect(seen).toHaveLength(WRITERS * APPENDS);
        const ids = new Set(seen.map((e) => e.id));
        expect(ids.size).toBe(WRITERS * APPENDS);
        const keys = new Set(seen.map((e) => `${(e.data as { w: number }).w}/${(e.data as { i: number }).i}`));
        expect(keys.size).toBe(WRITERS * APPENDS);
        const nextRevision = new Map<string, number>();
        for (const e of seen) {
          expect(e.revision).toBe(nextRevision.get(e.streamName) ?? 0);
          nextRevision.set(e.streamName, e.revision + 1);
        }
        for (let i = 1; i < seen.length; i++) expect(comparePositions(seen[i - 1]!.position, seen[i]!.position)).toBe(-1);
      }, 180_000);
    });
  });
}

async function readAllAfter(store: EventStore, after: Position): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let cp = after;
  for (;;) {
    const batch = await store.readAll({ after: cp, maxCount: 1000 });
    if (batch.length === 0) return out;
    out.push(...batch);
    cp = batch[batch.length - 1]!.position;
  }
}

/** The position of the last event now in the log (the start for an empty one). */
export async function headPosition(store: EventStore): Promise<Position> {
  const all = await readAllAfter(store, { commit: 0n, prepare: 0n });
  return all.length ? all[all.length - 1]!.position : { commit: 0n, prepare: 0n };
}
