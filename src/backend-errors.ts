import { EventStoreUnavailableError } from './eventstore/port.js';

/** Connection failures of pg/PGlite/EventStoreDB: the backend is down, not the request wrong. */
export function isBackendDown(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  // The EventStoreDB adapter translates its client's errors into this one (their names are all 'Error').
  if (err instanceof EventStoreUnavailableError) return true;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300'].includes(code))
    return true;
  if (code.startsWith('08')) return true; // SQLSTATE class 08: connection exception
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|PGlite is closed|Cannot use a pool after calling end/i.test(
    message,
  );
}
