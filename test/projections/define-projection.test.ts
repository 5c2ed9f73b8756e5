import { describe, expect, it } from 'vitest';
import type { AllowlistEvent } from '../../src/domain/allowlist.js';
import type { RecordedEvent } from '../../src/eventstore/port.js';
import { defineProjection } from '../../src/projections/projection.js';

// The checks that matter here are the compiler's (`npx tsc --noEmit` covers test/): each @ts-expect-error
// fails the typecheck if the line under it ever compiles.
describe('defineProjection', () => {
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
    const recorded = (type: string, data: unknown) => ({ type, data }) as RecordedEvent;
    await p.apply([recorded('AllowlistEntryAdded', { companyId: 'c', entry: { pattern: '*@x.test' } }), recorded('AllowlistEntryRemoved', { companyId: 'c', entryId: 'e1' })], {
      tx: undefined as never,
      table: (t) => t,
    });
    expect(seen).toEqual(['*@x.test', 'e1']);
  });
});
