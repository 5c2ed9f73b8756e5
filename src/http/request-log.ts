import type { Request, RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** The route template a request matched (`/api/companies/:companyId/crm/send`): a bounded label, never the raw path. */
const routeOf = (req: Request) => (req.route ? `${req.baseUrl}${String((req.route as { path: string }).path)}` : 'unmatched');

/**
 * Per request: one debug line (method, route path, status, duration, request id; never headers, query or body),
 * and the HTTP metrics by route template and status.
 */
export function requestLog(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      const seconds = (performance.now() - start) / 1000;
      const labels = { method: req.method, route: routeOf(req), status: String(res.statusCode) };
      metrics?.httpRequests.inc(labels);
      metrics?.httpDuration.observe(labels, seconds);
      logger.debug('request', {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round(seconds * 10_000) / 10,
        requestId: res.locals.requestId as string | undefined,
      });
    });
    next();
  };
}
