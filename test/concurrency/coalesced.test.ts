import { describe, expect, it } from 'vitest';
import { coalesced } from '../../src/concurrency/coalesced.js';

describe('coalesced', () => {
  it('a burst during a run shares one next run, started after the callers asked', async () => {
    let started = 0;
    const releases: (() => void)[] = [];
    const c = coalesced(
      () =>
        new Promise<number>((resolve) => {
          const n = ++started;
          releases.push(() => resolve(n));
        }),
    );
    const first = c.run();
    const burst = [c.run(), c.run(), c.run()];
    expect(started).toBe(1);
    releases[0]!();
    expect(await first).toBe(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toBe(2);
    releases[1]!();
    expect(await Promise.all(burst)).toEqual([2, 2, 2]);
    expect(started).toBe(2);
  });

  it('a failed run fails its callers only; the next run goes on, and settled waits for both', async () => {
    let calls = 0;
    const c = coalesced(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (calls === 1) throw new Error('first fails');
      return calls;
    });
    const first = c.run();
    const second = c.run();
    await expect(first).rejects.toThrow('first fails');
    await c.settled();
    expect(await second).toBe(2);
    expect(calls).toBe(2);
  });
});
