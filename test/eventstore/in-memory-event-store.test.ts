import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore } from '../../src/eventstore/in-memory-event-store.js';
import { IdempotencyConflictError, StreamNotFoundError, WrongExpectedRevisionError, comparePositions } from '../../src/eventstore/port.js';
import { eventStoreContract } from './contract.js';

eventStoreContract('in-memory', async () => {
  const store = createInMemoryEventStore();
  return { store, teardown: () => store.close() };
});

// What the port (src/eventstore/port.ts) states and the contract does not exercise; the expected behaviour is
// the SQL adapter's (src/eventstore/migrations/0005_set_based_append.sql), so that a test on this store means
// what it would on PGlite.
describe('in-memory event store, beyond the contract', () => {
  const stream = (category = 'mem') => `${category}-${randomUUID()}`;
  const ev = (data: Record<string, unknown> = { n: 1 }) => ({ type: 'Happened', data });

  it('refuses ids already stored in another stream, writing nothing', async () => {
    const store = createInMemoryEventStore();
    const e = { id: randomUUID(), ...ev() };
    await store.append(stream(), [e], 'no_stream');
    const other = stream();
    await expect(store.append(other, [e], 'any')).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(store.readStream(other)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('answers a retry as a duplicate whatever revision it expects now', async () => {
    const store = createInMemoryEventStore();
    const name = stream();
    const e = { id: randomUUID(), ...ev() };
    const first = await store.append(name, [e], 'no_stream');
    await store.append(name, [ev()], 0);
    const again = await store.append(name, [e], 'no_stream');
    expect(again).toEqual({ ...first, duplicate: true });
  });

  it('still refuses a stale revision for fresh events', async () => {
    const store = createInMemoryEventStore();
    const name = stream();
    await store.append(name, [ev(), ev()], 'no_stream');
    await expect(store.append(name, [ev()], 0)).rejects.toBeInstanceOf(WrongExpectedRevisionError);
  });

  it('hands out copies: changing what was appended or read changes nothing stored', async () => {
    const store = createInMemoryEventStore();
    const name = stream();
    const data = { list: [1] };
    await store.append(name, [{ type: 'Happened', data }], 'no_stream');
    data.list.push(2);
    const [read] = await store.readStream(name);
    (read!.data as { list: number[] }).list.push(3);
    read!.position.commit = 99n;
    const [again] = await store.readStream(name);
    expect(again!.data).toEqual({ list: [1] });
    expect(again!.position.commit).not.toBe(99n);
  });

  it('reads several streams forward from their revisions, a missing one giving nothing', async () => {
    const store = createInMemoryEventStore();
    const a = stream();
    const b = stream();
    const missing = stream();
    await store.append(a, [ev({ i: 0 }), ev({ i: 1 }), ev({ i: 2 })], 'no_stream');
    await store.append(b, [ev({ i: 0 })], 'no_stream');
    const got = await store.readStreamsForward!([
      { streamName: a, fromRevision: 1 },
      { streamName: b, fromRevision: 1 },
      { streamName: missing, fromRevision: 0 },
    ]);
    expect(got.get(a)!.map((e) => e.revision)).toEqual([1, 2]);
    expect(got.get(b)).toEqual([]);
    expect(got.get(missing)).toEqual([]);
  });

  it('counts up to a cap and tells when the oldest event after a position was recorded', async () => {
    let now = new Date('2026-03-01T10:00:00Z');
    const store = createInMemoryEventStore({ now: () => now });
    const name = stream();
    const first = await store.append(name, [ev()], 'no_stream');
    now = new Date('2026-03-01T10:05:00Z');
    await store.append(name, [ev(), ev()], 0);
    expect(await store.countAfter(first.position, 10)).toBe(2);
    expect(await store.countAfter(first.position, 1)).toBe(1);
    expect(await store.oldestAfter!(first.position)).toEqual(now);
    const head = (await store.readStream(name, { direction: 'backwards', maxCount: 1 }))[0]!.position;
    expect(await store.oldestAfter!(head)).toBeNull();
    expect(await store.countAfter(head, 10)).toBe(0);
  });

  it('wakes subscribers after an append that wrote, not after a duplicate, and stops when unsubscribed', async () => {
    const store = createInMemoryEventStore();
    const name = stream();
    let wakes = 0;
    const unsubscribe = await store.subscribe(() => wakes++);
    const e = { id: randomUUID(), ...ev() };
    const r = await store.append(name, [e], 'no_stream');
    expect(wakes).toBe(1);
    // A subscriber woken reads what woke it: the event is readable by then.
    expect(comparePositions((await store.readAll())[0]!.position, r.position)).toBe(0);
    await store.append(name, [e], 'no_stream');
    expect(wakes).toBe(1);
    await unsubscribe();
    await store.append(name, [ev()], 'any');
    expect(wakes).toBe(1);
  });

  it('a maxCount of 0 reads nothing, and still tells a missing stream', async () => {
    const store = createInMemoryEventStore();
    const name = stream();
    await expect(store.readStream(name, { maxCount: 0 })).rejects.toBeInstanceOf(StreamNotFoundError);
    await store.append(name, [ev()], 'no_stream');
    expect(await store.readStream(name, { maxCount: 0 })).toEqual([]);
    expect(await store.readAll({ maxCount: 0 })).toEqual([]);
  });
});
