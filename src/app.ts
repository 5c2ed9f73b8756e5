import express from 'express';
import { errorHandler, unknownRoute } from './http/errors.js';
import { healthRouter } from './http/health.js';
import type { Runtime } from './runtime.js';

export const BODY_LIMIT = '1mb';

/** The HTTP app, testable without listening. */
export function createApp(rt: Runtime): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(express.json({ limit: BODY_LIMIT }));
  app.use(healthRouter(rt));
  app.use(unknownRoute);
  app.use(errorHandler(rt.logger));
  return app;
}
