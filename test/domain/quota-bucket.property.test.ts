import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type QuotaBucketCommand,
  decideBucketBatch,
  foldBucketInto,
  quotaBucketDecider,
  usedUnits,
} from '../../src/domain/quota-bucket.js';

const key = { companyId: 'c', credentialId: 'k', day: '2026-11-30' };
const command = (ids: string[]) =>
  fc.oneof(
    fc
      .record({ activityId: fc.constantFrom(...ids), cap: fc.integer({ min: 0, max: 6 }) })
      .map((r): QuotaBucketCommand => ({ type: 'Reserve', ...key, requests: [r], now: 't' })),
    fc
      .array(fc.record({ activityId: fc.constantFrom(...ids), cap: fc.integer({ min: 0, max: 6 }) }), { maxLength: 8 })
      .map((requests): QuotaBucketCommand => ({ type: 'Reserve', ...key, requests, now: 't' })),
    fc.constantFrom(...ids).map((activityId): QuotaBucketCommand => ({ type: 'Refund', ...key, activityId, now: 't' })),
  );

describe('quota bucket (properties)', () => {
  it('a batch decided at once (group commit) gives exactly the events of deciding one command at a time', () => {
    const ids = Array.from({ length: 8 }, (_, i) => `a${i}`);
    fc.assert(
      fc.property(fc.array(command(ids), { maxLength: 20 }), fc.array(command(ids), { maxLength: 20 }), (before, batch) => {
        let state = quotaBucketDecider.initialState();
        for (const c of before) state = quotaBucketDecider.decide(c, state).reduce(quotaBucketDecider.evolve, state);
        const frozen = {
          holders: new Set(state.holders),
          reserved: new Set(state.reserved),
          units: new Map(state.units),
          closed: state.closed,
        };
        let sequential = state;
        const expected = batch.map((c) => {
          const events = quotaBucketDecider.decide(c, sequential);
          sequential = events.reduce(quotaBucketDecider.evolve, sequential);
          return events;
        });
        const decided = decideBucketBatch(batch, state);
        expect(decided).toEqual(expected);
        expect(state).toEqual(frozen); // deciding leaves the state alone
        expect(foldBucketInto(state, decided.flat())).toEqual(sequential);
      }),
    );
  });

  it('a refund is final within a batch too: reserve, refund, reserve again gives one unit taken and given back', () => {
    const reserve: QuotaBucketCommand = { type: 'Reserve', ...key, requests: [{ activityId: 'x', cap: 5 }], now: 't' };
    const decided = decideBucketBatch(
      [reserve, { type: 'Refund', ...key, activityId: 'x', now: 't' }, reserve],
      quotaBucketDecider.initialState(),
    );
    expect(decided.map((es) => es.map((e) => e.type))).toEqual([['QuotaReserved'], ['QuotaRefunded'], []]);
  });

  it('every unit is taken within the cap of its reservation, and an activity holds one unit at most', () => {
    const ids = Array.from({ length: 12 }, (_, i) => `a${i}`);
    fc.assert(
      fc.property(fc.array(command(ids), { maxLength: 60 }), (commands) => {
        let state = quotaBucketDecider.initialState();
        for (const c of commands) {
          for (const e of quotaBucketDecider.decide(c, state)) {
            if (e.type === 'QuotaDayClosed') throw new Error('no Close command here');
            const held = state.holders.has(e.data.activityId);
            state = quotaBucketDecider.evolve(state, e);
            // Each unit is taken within the cap its reservation carries, and only by one not holding one.
            if (e.type === 'QuotaReserved') {
              expect(held).toBe(false);
              expect(usedUnits(state)).toBeLessThanOrEqual(e.data.cap);
            }
          }
          expect(state.holders.size).toBeLessThanOrEqual(state.reserved.size);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('with one cap, a day never has more than cap holders, whatever the interleaving of reservations and refunds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 })), { maxLength: 100 }),
        (cap, ops) => {
          let state = quotaBucketDecider.initialState();
          for (const [reserve, n] of ops) {
            const c: QuotaBucketCommand = reserve
              ? { type: 'Reserve', ...key, requests: [{ activityId: `a${n}`, cap }], now: 't' }
              : { type: 'Refund', ...key, activityId: `a${n}`, now: 't' };
            state = quotaBucketDecider.decide(c, state).reduce(quotaBucketDecider.evolve, state);
            expect(usedUnits(state)).toBeLessThanOrEqual(cap);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
