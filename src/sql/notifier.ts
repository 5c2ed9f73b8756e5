import { coalesced } from '../concurrency/coalesced.js';
import type { Queryable } from './db.js';

/**
 * `NOTIFY channel, payload`, coalesced (one in flight, one pending, so what happened meanwhile is announced by
 * the next) and at least `spacingMs` apart, so that a busy writer sends tens a second rather than one per
 * write. A failure is ignored: listeners also poll, and a lost notification only delays them.
 */
export function spacedNotifier(db: Queryable, channel: string, payload: string, spacingMs: number) {
  return coalesced(async () => {
    await db.query(`SELECT pg_notify($1, $2)`, [channel, payload]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, spacingMs));
  });
}
