import type { EventStore } from './port.js';

/** Times every append of `store` into `histogram` (seconds, as the caller waited), whichever adapter it is. */
export function timeAppends(store: EventStore, histogram: { observe(seconds: number): void }): void {
  const append = store.append.bind(store);
  store.append = async (...args) => {
    const start = performance.now();
    try {
      return await append(...args);
    } finally {
      histogram.observe((performance.now() - start) / 1000);
    }
  };
}
