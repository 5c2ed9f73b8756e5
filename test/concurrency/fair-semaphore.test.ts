import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairSemaphore, defaultShare } from '../../src/concurrency/fair-semaphore.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('FairSemaphore', () => {
  it('a key that holds its share leaves the other slots to other keys', async () => {
    const s = new FairSemaphore(4, 2);
    const granted: string[] = [];
    for (let i = 0; i < 20; i++) void s.acquire('stalled').then(() => granted.push('stalled'));
    void s.acquire('other').then(() => granted.push('other'));
    void s.acquire('other').then(() => granted.push('other'));
    await settle();
    expect(granted.sort()).toEqual(['other', 'other', 'stalled', 'stalled']);
    expect(s.snapshot().keys.get('stalled')).toEqual({ active: 2, waiting: 18 });
  });

  it('serves waiting keys round robin, not in arrival order; one key in arrival order', async () => {
    const s = new FairSemaphore(1, 1);
    const order: string[] = [];
    const first = await s.acquire('a');
    const run = (key: string, label: string) => s.run(key, async () => void order.push(label));
    const all = [run('a', 'a1'), run('a', 'a2'), run('a', 'a3'), run('b', 'b1'), run('c', 'c1'), run('b', 'b2')];
    first();
    await Promise.all(all);
    expect(order).toEqual(['b1', 'c1', 'a1', 'b2', 'a2', 'a3']);
  });

  it('gives a freed slot to a waiting key that holds none before one that holds some', async () => {
    const s = new FairSemaphore(3, 3);
    const a1 = await s.acquire('a');
    const a2 = await s.acquire('a');
    const b1 = await s.acquire('b');
    const granted: string[] = [];
    void s.acquire('a').then(() => granted.push('a')); // asked first, but a holds two slots
    void s.acquire('c').then(() => granted.push('c'));
    b1();
    await settle();
    expect(granted).toEqual(['c']);
    a1();
    await settle();
    expect(granted).toEqual(['c', 'a']);
    a2();
  });

  it('a release called twice gives back one slot; a failing task gives its slot back', async () => {
    const s = new FairSemaphore(2, 2);
    const r = await s.acquire('a');
    r();
    r();
    expect(s.snapshot().active).toBe(0);
    await expect(s.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(s.snapshot()).toEqual({ active: 0, keys: new Map() });
  });

  it('the default share is half the slots, at least one', () => {
    expect([1, 2, 3, 4, 64].map(defaultShare)).toEqual([1, 1, 1, 2, 32]);
    expect(() => new FairSemaphore(0, 1)).toThrow(RangeError);
  });

  type Op = { kind: 'acquire'; key: string } | { kind: 'release'; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), key: fc.constantFrom('a', 'b', 'c', 'd') }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  );

  it('property: never more than size holders nor more than the share per key; no slot idle while a key under its share waits; a freed slot goes to a waiting key with the fewest slots', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(op, { maxLength: 80 }),
        async (size, shareRaw, ops) => {
          const share = Math.min(size, shareRaw);
          const s = new FairSemaphore(size, share);
          const holders: { key: string; release: () => void }[] = [];
          const grants: { key: string; seq: number }[] = [];
          let seq = 0;
          const asked = new Map<string, number[]>();
          const served = new Map<string, number[]>();
          for (const o of ops) {
            const before = s.snapshot();
            const grantsBefore = grants.length;
            let released: string | null = null;
            if (o.kind === 'acquire') {
              const n = seq++;
              asked.set(o.key, [...(asked.get(o.key) ?? []), n]);
              void s.acquire(o.key).then((release) => {
                holders.push({ key: o.key, release });
                grants.push({ key: o.key, seq: n });
                served.set(o.key, [...(served.get(o.key) ?? []), n]);
              });
            } else if (holders.length > 0) {
              const [h] = holders.splice(o.pick % holders.length, 1);
              released = h!.key;
              h!.release();
            }
            await settle();

            const now = s.snapshot();
            expect(now.active).toBeLessThanOrEqual(size);
            expect(now.active).toBe(holders.length);
            expect([...now.keys.values()].reduce((sum, k) => sum + k.active, 0)).toBe(now.active);
            for (const k of now.keys.values()) {
              expect(k.active).toBeLessThanOrEqual(share);
              if (now.active < size && k.waiting > 0) expect(k.active).toBe(share);
            }
            const newGrants = grants.slice(grantsBefore);
            if (released !== null) {
              // One slot was freed: at most one waiting call gets it, and no waiting key holding fewer slots is passed over.
              expect(newGrants.length).toBeLessThanOrEqual(1);
              const held = (key: string) => (before.keys.get(key)?.active ?? 0) - (key === released ? 1 : 0);
              for (const g of newGrants) {
                const candidates = [...before.keys].filter(([key, k]) => k.waiting > 0 && held(key) < share);
                expect(candidates.map(([key]) => key)).toContain(g.key);
                expect(held(g.key)).toBe(Math.min(...candidates.map(([key]) => held(key))));
              }
            }
          }
          for (const [key, order] of served) expect(order).toEqual(asked.get(key)!.slice(0, order.length));
          // Everything waiting is served in the end, and nothing is left behind.
          while (holders.length > 0) {
            for (const h of holders.splice(0)) h.release();
            await settle();
          }
          expect(grants.length).toBe(seq);
          expect(s.snapshot()).toEqual({ active: 0, keys: new Map() });
        },
      ),
      { numRuns: 300 },
    );
  });
});
