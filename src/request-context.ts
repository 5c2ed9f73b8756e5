import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The request a piece of work belongs to, wherever it runs (a handler, the dispatcher, an adapter): every log
 * line written meanwhile carries its id, without each layer passing it on.
 */
const context = new AsyncLocalStorage<{ requestId: string }>();

export const runInRequest = <T>(requestId: string, fn: () => T): T => context.run({ requestId }, fn);

/** The fields a log line of the current request carries (none outside a request). */
export function requestFields(): { requestId?: string } {
  const c = context.getStore();
  return c ? { requestId: c.requestId } : {};
}
