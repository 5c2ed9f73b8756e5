import { describe, expect, it } from 'vitest';
import { handleCommand, loadAggregate } from '../../src/commands/handle-command.js';
import { type Decider, type DomainEvent, DomainError } from '../../src/domain/decider.js';
import { createInMemoryEventStore } from '../../src/eventstore/in-memory-event-store.js';
import { type EventStore, WrongExpectedRevisionError } from '../../src/eventstore/port.js';
import { readStreamIfAny } from '../../src/eventstore/read-stream-if-any.js';

// A counter that may not go over its limit: enough to see the loop decide each command on the state the ones
// before it left, and refuse on the latest state.
type CounterEvent = DomainEvent<'Added', { by: number }>;
type CounterCommand = { type: 'Add'; by: number; limit?: number };
const counter: Decider<CounterCommand, number, CounterEvent> = {
  initialState: () => 0,
  evolve: (n, e) => n + e.data.by,
  decide: (c, n) => {
    if (c.limit !== undefined && n + c.by > c.limit) throw new DomainError('conflict', 'over the limit');
    return c.by === 0 ? [] : [{ type: 'Added', data: { by: c.by } }];
  },
};
const STREAM = 'counter-1';

/** The store, counting stream reads and appends, with a hook that runs before each append. */
function watched(store: EventStore, beforeAppend: () => Promise<void> = async () => {}) {
  const seen = { reads: 0, appends: 0 };
  const wrapped: EventStore = Object.create(store, {
    readStream: { value: (...a: Parameters<EventStore['readStream']>) => (seen.reads++, store.readStream(...a)) },
    append: { value: async (...a: Parameters<EventStore['append']>) => (seen.appends++, await beforeAppend(), store.append(...a)) },
  });
  return { store: wrapped, seen };
}

describe('handleCommand: the one command loop', () => {
  it('decides several commands in order, each on the state the ones before it left, and appends them at once', async () => {
    const { store, seen } = watched(createInMemoryEventStore());
    const r = await handleCommand(store, STREAM, counter, [
      { type: 'Add', by: 2 },
      { type: 'Add', by: 3, limit: 5 },
    ]);
    expect(r.state).toBe(5);
    expect(r.revision).toBe(1);
    expect(seen.appends).toBe(1);
    // The second command saw the first's 2: with 4 as its limit it is refused, and nothing of either is written.
    await expect(
      handleCommand(store, STREAM, counter, [
        { type: 'Add', by: 2 },
        { type: 'Add', by: 3, limit: 8 },
      ]),
    ).rejects.toMatchObject({ kind: 'conflict' });
    expect((await loadAggregate(store, STREAM, counter)).state).toBe(5);
  });

  it('a known state and revision are decided on without a read; the append proves them current', async () => {
    const { store, seen } = watched(createInMemoryEventStore());
    const first = await handleCommand(store, STREAM, counter, { type: 'Add', by: 1 });
    const reads = seen.reads;
    const r = await handleCommand(
      store,
      STREAM,
      counter,
      { type: 'Add', by: 1 },
      { known: { state: first.state, revision: first.revision } },
    );
    expect(seen.reads).toBe(reads);
    expect(r).toMatchObject({ state: 2, revision: 1 });
  });

  it('a stale known state costs a conflict, a reload and a decision on the latest state', async () => {
    const { store, seen } = watched(createInMemoryEventStore());
    await handleCommand(store, STREAM, counter, { type: 'Add', by: 4 });
    const r = await handleCommand(store, STREAM, counter, { type: 'Add', by: 1, limit: 5 }, { known: { state: 0, revision: null } });
    expect(r).toMatchObject({ state: 5, revision: 1 });
    expect(seen.appends).toBe(3);
    await expect(
      handleCommand(store, STREAM, counter, { type: 'Add', by: 1, limit: 5 }, { known: { state: 0, revision: null } }),
    ).rejects.toBeInstanceOf(DomainError);
  });

  it('caller-supplied event ids make a repeated decision a duplicate that writes nothing', async () => {
    const store = createInMemoryEventStore();
    const id = '5d8f0c1e-0000-4000-8000-000000000001';
    const once = await handleCommand(
      store,
      STREAM,
      counter,
      { type: 'Add', by: 1 },
      { eventIds: () => id, known: { state: 0, revision: null } },
    );
    expect(once.duplicate).toBe(false);
    const again = await handleCommand(
      store,
      STREAM,
      counter,
      { type: 'Add', by: 1 },
      { eventIds: () => id, known: { state: 0, revision: null } },
    );
    expect(again.duplicate).toBe(true);
    const events = await store.readStream(STREAM);
    expect(events.map((e) => e.id)).toEqual([id]);
  });

  it('retries a conflict a bounded number of times (another writer always first), then gives the conflict up', async () => {
    const base = createInMemoryEventStore();
    let rival = 0;
    const { store, seen } = watched(base, async () => {
      rival++;
      await base.append(STREAM, [{ type: 'Added', data: { by: 1 } }], 'any');
    });
    await expect(handleCommand(store, STREAM, counter, { type: 'Add', by: 1 }, { maxAttempts: 4 })).rejects.toBeInstanceOf(
      WrongExpectedRevisionError,
    );
    expect(seen.appends).toBe(4);
    expect(rival).toBe(4);
    // maxAttempts 1: the caller handles the conflict itself.
    await expect(handleCommand(store, STREAM, counter, { type: 'Add', by: 1 }, { maxAttempts: 1 })).rejects.toBeInstanceOf(
      WrongExpectedRevisionError,
    );
    expect(seen.appends).toBe(5);
  });

  it('confirmNoChange: a decision of nothing on a known state is taken again on the stream as it is', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, STREAM, counter, { type: 'Add', by: 3 });
    // Given a stale known state (0), a command that decides on the state (nothing to add while under 3).
    const addUpTo3 = (n: number): CounterCommand => ({ type: 'Add', by: n < 3 ? 3 - n : 0 });
    const confirmed = await handleCommand(store, STREAM, counter, (n) => addUpTo3(n), {
      known: { state: 3, revision: null },
      confirmNoChange: true,
    });
    expect(confirmed).toMatchObject({ state: 3, revision: 0, events: [] });
    const unconfirmed = await handleCommand(store, STREAM, counter, (n) => addUpTo3(n), { known: { state: 3, revision: null } });
    expect(unconfirmed.revision).toBeNull();
  });

  it('a missing stream is the initial state at revision null; readStreamIfAny reports it as null', async () => {
    const store = createInMemoryEventStore();
    expect(await loadAggregate(store, 'counter-none', counter)).toEqual({ state: 0, revision: null, events: [] });
    expect(await readStreamIfAny(store, 'counter-none')).toBeNull();
    await handleCommand(store, 'counter-some', counter, { type: 'Add', by: 1 });
    expect(await readStreamIfAny(store, 'counter-some', { fromRevision: 5 })).toEqual([]);
  });
});
