/**
 * Runs `task` at most once at a time. A call while a run is in progress joins the next run, which starts when
 * that one ends: every caller gets the result of a run that started after it asked, and a burst of calls
 * costs at most two runs.
 */
export function coalesced<T>(task: () => Promise<T>): { run: () => Promise<T>; settled: () => Promise<void> } {
  let running: Promise<T> | null = null;
  let next: Promise<T> | null = null;
  const run = (): Promise<T> => {
    if (!running) {
      running = task().finally(() => {
        running = null;
      });
      return running;
    }
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return run();
      });
    return next;
  };
  /** Resolves once no run is in progress or waiting (whatever their outcome). */
  const settled = async () => {
    while (running || next) await (next ?? running)!.catch(() => undefined);
  };
  return { run, settled };
}
