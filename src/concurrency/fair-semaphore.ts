interface KeyState {
  active: number;
  /** When this key was last given a slot (a count of grants); -1 for never. */
  lastTurn: number;
  /** Grants to make, in arrival order. */
  waiting: (() => void)[];
}

/**
 * A counting semaphore shared by several tenants: at most `size` holders in all and `perKey` per key, so that
 * one key whose work stalls (a mail server that never answers) cannot take every slot. A freed slot goes to
 * the waiting key holding the fewest slots; among equals, to the one whose turn came least recently (round
 * robin), never to whoever asked first: a key that queued a thousand calls does not make a key that queued
 * one wait behind all of them. Within one key, calls go in arrival order.
 */
export class FairSemaphore {
  private active = 0;
  private turn = 0;
  private readonly keys = new Map<string, KeyState>();
  /** Keys with waiting calls. */
  private readonly queued = new Map<string, KeyState>();

  constructor(
    readonly size: number,
    readonly perKey: number,
  ) {
    if (!(Number.isInteger(size) && size >= 1 && Number.isInteger(perKey) && perKey >= 1)) {
      throw new RangeError('size and perKey must be positive integers');
    }
  }

  /** Resolves with the function that gives the slot back (calling it again does nothing). */
  acquire(key: string): Promise<() => void> {
    let k = this.keys.get(key);
    if (!k) {
      k = { active: 0, lastTurn: -1, waiting: [] };
      this.keys.set(key, k);
    }
    const state = k;
    // No waiting key can use a free slot (dispatch leaves none behind), so taking one here skips nobody.
    if (this.active < this.size && state.active < this.perKey) {
      this.take(state);
      return Promise.resolve(this.releaser(key, state));
    }
    return new Promise((resolve) => {
      state.waiting.push(() => resolve(this.releaser(key, state)));
      this.queued.set(key, state);
    });
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Slots held and calls waiting, in all and per key (for tests and diagnostics). */
  snapshot(): { active: number; keys: Map<string, { active: number; waiting: number }> } {
    return { active: this.active, keys: new Map([...this.keys].map(([key, k]) => [key, { active: k.active, waiting: k.waiting.length }])) };
  }

  private releaser(key: string, state: KeyState): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      state.active--;
      this.dispatch();
      if (state.active === 0 && state.waiting.length === 0 && this.keys.get(key) === state) this.keys.delete(key);
    };
  }

  private take(state: KeyState): void {
    this.active++;
    state.active++;
    state.lastTurn = this.turn++;
  }

  private dispatch(): void {
    while (this.active < this.size) {
      let best: [string, KeyState] | null = null;
      for (const entry of this.queued) {
        const k = entry[1];
        if (k.active >= this.perKey) continue;
        if (!best || k.active < best[1].active || (k.active === best[1].active && k.lastTurn < best[1].lastTurn)) best = entry;
      }
      if (!best) return;
      const [key, state] = best;
      const grant = state.waiting.shift()!;
      if (state.waiting.length === 0) this.queued.delete(key);
      this.take(state);
      grant();
    }
  }
}

/** The default share of one company: half the slots, so that another company always finds some. */
export const defaultShare = (size: number) => Math.max(1, Math.floor(size / 2));
