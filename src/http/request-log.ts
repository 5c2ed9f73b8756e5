import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';

/** One debug line per request: method, route path, status, duration. Never headers, query or body. */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      logger.debug('request', {
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Math.round((performance.now() - start) * 10) / 10,
      });
    });
    next();
  };
}
