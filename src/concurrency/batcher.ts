/**
 * Group commit for any round trip: an item added while `maxInFlight` batches are running waits and goes with
 * every other waiting item in the next batch (at most `maxItems`), which starts when a running one ends. Items
 * added when there is room go at the end of the current job (a microtask), together: the reads one caller
 * starts side by side (an enrollment and its sequence) are one round trip, not two, with no timer's latency. Each batch starts
 * after all of its items were added, so a read batched this way still sees every write that committed before
 * its caller asked. `run` settles each of its items itself (they carry their own resolve and reject).
 */
export function batcher<T>(
  run: (items: T[]) => Promise<void>,
  options: {
    maxInFlight: number;
    maxItems: number;
    order?: (a: T, b: T) => number;
    /**
     * When an item added with room starts its batch: at the end of the current job (`microtask`, the default),
     * or after the I/O callbacks already due have run (`immediate`). The latter is for a backend that runs in
     * this thread (PGlite): its query blocks the loop, so a batch started at once would hold the one item of
     * the request being handled while the requests that arrived beside it wait for the next.
     */
    start?: 'microtask' | 'immediate';
  },
): { add: (item: T) => void; idle: () => Promise<void> } {
  const queue: T[] = [];
  let inFlight = 0;
  const whenIdle: (() => void)[] = [];
  let pending = false;

  const pump = () => {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const items = queue.splice(0, options.maxItems);
      if (options.order) items.sort(options.order);
      inFlight++;
      void run(items)
        .catch(() => undefined) // run settles its items; a throw here must not stall the queue
        .finally(() => {
          inFlight--;
          pump();
          if (inFlight === 0 && queue.length === 0) for (const w of whenIdle.splice(0)) w();
        });
    }
  };

  return {
    add(item) {
      queue.push(item);
      if (pending) return;
      pending = true;
      const go = () => {
        pending = false;
        pump();
      };
      if (options.start === 'immediate') setImmediate(go);
      else queueMicrotask(go);
    },
    /** Resolves once nothing is queued or running. */
    idle() {
      if (inFlight === 0 && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => whenIdle.push(resolve));
    },
  };
}
