import { timingSafeEqual } from 'node:crypto';
import { type RequestHandler, Router } from 'express';
import type { Runtime } from '../../runtime.js';
import { authenticate, requireInstanceAdmin } from '../auth.js';

const bearer = (header: string | undefined) => /^Bearer (\S+)$/i.exec(header ?? '')?.[1] ?? null;

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

const scrape =
  (rt: Runtime): RequestHandler =>
  async (_req, res, next) => {
    try {
      const text = await rt.metrics.scrape();
      res.setHeader('Content-Type', rt.metrics.registry.contentType);
      res.send(text);
    } catch (err) {
      next(err);
    }
  };

/**
 * `GET /metrics`: a scraper holding `CRM_METRICS_TOKEN` (checked first: authentication knows only board tokens and
 * agent keys), else an instance admin. Mounted ahead of the app's authentication, so it authenticates itself.
 */
export function metricsRouter(rt: Runtime): Router {
  const r = Router();
  const byToken: RequestHandler = (req, res, next) => {
    const token = rt.config.metricsToken;
    const given = bearer(req.get('authorization'));
    if (token && given && sameToken(given, token)) return scrape(rt)(req, res, next);
    next();
  };
  r.get('/metrics', byToken, authenticate(rt), requireInstanceAdmin, scrape(rt));
  return r;
}
