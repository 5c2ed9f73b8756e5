import { Router } from 'express';
import type { Runtime } from '../runtime.js';

/** The oldest unapplied event may be this old (ms) and the service still counts as caught up. */
const READY_MAX_LAG_MS = 5000;

export function healthRouter(rt: Pick<Runtime, 'db' | 'store' | 'engine'>): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    let ready = true;
    const probe = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        checks[name] = 'ok';
      } catch {
        checks[name] = 'unreachable';
        ready = false;
      }
    };
    await probe('database', () => rt.db.query('SELECT 1'));
    await probe('eventStore', () => rt.store.ping());
    let projections: { name: string; lagEvents: number; lagMs: number; caughtUp: boolean }[] = [];
    if (ready) {
      try {
        projections = (await rt.engine.status()).map((s) => ({
          name: s.name,
          lagEvents: s.lagEvents,
          lagMs: s.lagMs,
          caughtUp: s.lagMs <= READY_MAX_LAG_MS,
        }));
        if (projections.some((p) => !p.caughtUp)) ready = false;
      } catch {
        checks.projections = 'unavailable';
        ready = false;
      }
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks, projections });
  });
  return r;
}
