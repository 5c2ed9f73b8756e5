import { describe, expect, it } from 'vitest';
import type { AllowlistEvent } from '../../src/domain/allowlist.js';
import type { RecordedEvent } from '../../src/eventstore/port.js';
import { defineProjection, runsOfOneType } from '../../src/projections/projection.js';

// Some checks that matter here are the compiler's (`npx tsc --noEmit` covers test/): each @ts-expect-error
// fails the typecheck if the line under it ever compiles.
const recorded = (type: string, data: unknown) => ({ type, data }) as RecordedEvent;
const ctx = { tx: undefined as never, table: (t: string) => t };

describe('defineProjection with a handler per event type', () => {
  it('calls the handler of each event’s type, in the order of the events, with the context', async () => {
    const seen: string[] = [];
    const p = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: {
        AllowlistEntryAdded: async (e, { table }) => seen.push(`${table('added')} ${e.data.entry.pattern}`),
        AllowlistEntryRemoved: async (e, { table }) => seen.push(`${table('removed')} ${e.data.entryId}`),
      },
    });
    expect(p.eventTypes).toEqual(['AllowlistEntryAdded', 'AllowlistEntryRemoved']);
    await p.apply(
      [
        recorded('AllowlistEntryAdded', { companyId: 'c', entry: { pattern: '*@a.test' } }),
        recorded('AllowlistEntryRemoved', { companyId: 'c', entryId: 'e1' }),
        recorded('AllowlistEntryAdded', { companyId: 'c', entry: { pattern: '*@b.test' } }),
      ],
      { tx: undefined as never, table: (t) => `aside_${t}` },
    );
    expect(seen).toEqual(['aside_added *@a.test', 'aside_removed e1', 'aside_added *@b.test']);
  });

  it('delivers no event of a type it has no handler for, and does not fail on one', async () => {
    const seen: string[] = [];
    const p = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: { AllowlistEntryRemoved: async (e) => seen.push(e.data.entryId) },
    });
    expect(p.eventTypes).toEqual(['AllowlistEntryRemoved']);
    await p.apply(
      [
        recorded('AllowlistEntryAdded', { companyId: 'c', entry: { pattern: '*@a.test' } }),
        recorded('AllowlistEntryRemoved', { companyId: 'c', entryId: 'e1' }),
      ],
      ctx,
    );
    expect(seen).toEqual(['e1']);
  });

  it('awaits each handler before the next one starts', async () => {
    const log: string[] = [];
    const slow = (id: string) => async () => {
      log.push(`start ${id}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push(`end ${id}`);
    };
    const p = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: { AllowlistEntryAdded: slow('added'), AllowlistEntryRemoved: slow('removed') },
    });
    await p.apply([recorded('AllowlistEntryAdded', { entry: {} }), recorded('AllowlistEntryRemoved', {})], ctx);
    expect(log).toEqual(['start added', 'end added', 'start removed', 'end removed']);
  });

  it('refuses a key that is not one of the union’s types, and types each handler’s event by its key', () => {
    const unknownKey = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: {
        AllowlistEntryAdded: async (e) => e.data.entry.pattern,
        // @ts-expect-error a renamed or unknown event type is not one of AllowlistEvent's
        AllowlistEntryRenamed: async () => {},
      },
    });
    const wrongMember = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: {
        // @ts-expect-error AllowlistEntryAdded carries the entry, not an entryId: the handler gets that member only
        AllowlistEntryAdded: async (e) => e.data.entryId,
        AllowlistEntryRemoved: async (e) => e.data.entryId,
      },
    });
    // @ts-expect-error one form or the other: handlers in `on` next to a batch `apply` would be ignored
    const both = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      on: { AllowlistEntryAdded: async () => {} },
      eventTypes: ['AllowlistEntryAdded'],
      async apply() {},
    });
    // The engine filters by eventTypes, which are the keys of `on`.
    expect(unknownKey.eventTypes).toEqual(['AllowlistEntryAdded', 'AllowlistEntryRenamed']);
    expect(wrongMember.eventTypes).toEqual(['AllowlistEntryAdded', 'AllowlistEntryRemoved']);
    expect(both.eventTypes).toEqual(['AllowlistEntryAdded']);
  });
});

describe('defineProjection with the whole batch (set-based read models)', () => {
  it('refuses a listed type that is not in the union, and a comparison with a type it does not list', () => {
    const unknownType = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      // @ts-expect-error a renamed or unknown event type is not one of AllowlistEvent's
      eventTypes: ['AllowlistEntryAdded', 'AllowlistEntryRenamed'],
      async apply() {},
    });
    const unlisted = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      eventTypes: ['AllowlistEntryAdded'],
      async apply(events) {
        for (const e of events) {
          // @ts-expect-error only the listed members reach apply: AllowlistEntryRemoved is not listed
          if (e.type === 'AllowlistEntryRemoved') throw new Error('unreachable');
        }
      },
    });
    // At run time they are what they say: the engine filters by these lists.
    expect(unknownType.eventTypes).toEqual(['AllowlistEntryAdded', 'AllowlistEntryRenamed']);
    expect(unlisted.eventTypes).toEqual(['AllowlistEntryAdded']);
  });

  it('hands apply the events typed by their type, erased to the engine', async () => {
    const seen: string[] = [];
    const p = defineProjection<AllowlistEvent>()({
      name: 'x',
      tables: [],
      eventTypes: ['AllowlistEntryAdded', 'AllowlistEntryRemoved'],
      async apply(events) {
        for (const e of events) seen.push(e.type === 'AllowlistEntryAdded' ? e.data.entry.pattern : e.data.entryId);
      },
    });
    expect(p.eventTypes).toEqual(['AllowlistEntryAdded', 'AllowlistEntryRemoved']);
    await p.apply(
      [
        recorded('AllowlistEntryAdded', { companyId: 'c', entry: { pattern: '*@x.test' } }),
        recorded('AllowlistEntryRemoved', { companyId: 'c', entryId: 'e1' }),
      ],
      ctx,
    );
    expect(seen).toEqual(['*@x.test', 'e1']);
  });
});

describe('runsOfOneType', () => {
  it('cuts at a change of type and at a key seen again in the run, keeping the order', () => {
    const e = (type: string, key: string) => ({ type, key });
    const runs = runsOfOneType([e('A', '1'), e('A', '2'), e('A', '1'), e('B', '1'), e('B', '2'), e('A', '3')], (x) => x.key);
    expect(runs.map((r) => r.map((x) => `${x.type}${x.key}`))).toEqual([['A1', 'A2'], ['A1'], ['B1', 'B2'], ['A3']]);
    expect(runsOfOneType([], (x: { type: string }) => x.type)).toEqual([]);
  });
});
