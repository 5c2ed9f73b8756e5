import { describe, expect, it } from 'vitest';
import { batcher } from '../../src/concurrency/batcher.js';

describe('batcher', () => {
  it("with start 'immediate', items added by callbacks due in one turn of the loop go in one batch (with 'microtask', one each)", async () => {
    const batchesOf = async (start: 'immediate' | 'microtask') => {
      const batches: number[][] = [];
      const b = batcher<number>(async (items) => void batches.push(items), { maxInFlight: 1, maxItems: 10, start });
      // Three timers due together: like three requests whose bytes arrived while PGlite held the thread.
      await new Promise<void>((resolve) => {
        for (const n of [1, 2, 3]) setTimeout(() => b.add(n), 0);
        setTimeout(resolve, 5);
      });
      await b.idle();
      return batches;
    };
    expect(await batchesOf('immediate')).toEqual([[1, 2, 3]]);
    expect(await batchesOf('microtask')).toEqual([[1], [2], [3]]);
  });
  it('goes at the end of the job when there is room, with what that job added; items added meanwhile share the next batch, in order, at most maxItems', async () => {
    const batches: number[][] = [];
    const releases: (() => void)[] = [];
    const b = batcher<number>(
      (items) =>
        new Promise<void>((resolve) => {
          batches.push(items);
          releases.push(resolve);
        }),
      { maxInFlight: 1, maxItems: 3, order: (x, y) => x - y },
    );
    b.add(11);
    b.add(10);
    expect(batches).toEqual([]);
    await Promise.resolve();
    expect(batches).toEqual([[10, 11]]);
    for (const n of [5, 4, 3, 2]) b.add(n);
    await Promise.resolve();
    expect(batches).toHaveLength(1); // waits for the batch in flight
    releases[0]!();
    await new Promise((r) => setTimeout(r, 0));
    expect(batches).toEqual([
      [10, 11],
      [3, 4, 5],
    ]);
    releases[1]!();
    await new Promise((r) => setTimeout(r, 0));
    expect(batches).toEqual([[10, 11], [3, 4, 5], [2]]);
    let idle = false;
    void b.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 0));
    expect(idle).toBe(false);
    releases[2]!();
    await new Promise((r) => setTimeout(r, 0));
    expect(idle).toBe(true);
  });

  it('runs up to maxInFlight batches at once, and a batch that throws does not stall the queue', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const b = batcher<number>(
      async (items) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (items.includes(1)) throw new Error('boom');
        done.push(...items);
      },
      { maxInFlight: 2, maxItems: 10 },
    );
    // One job at a time, so that each item could have gone alone.
    for (let i = 1; i <= 6; i++) {
      b.add(i);
      await Promise.resolve();
    }
    await b.idle();
    expect(peak).toBe(2);
    expect(done.sort()).toEqual([2, 3, 4, 5, 6]);
  });
});
