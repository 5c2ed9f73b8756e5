import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { runInRequest } from '../request-context.js';

/** What a caller's id may be: a proxy's or a client's trace id, never text that could forge a log line. */
const CALLER_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Every request has an id: the caller's `X-Request-Id` when it is a plain token, else a new UUID. It is in the
 * reply's `X-Request-Id` and in every log line written while the request is served (src/request-context.ts).
 */
export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  const id = given && CALLER_ID.test(given) ? given : randomUUID();
  res.locals.requestId = id;
  res.setHeader('X-Request-Id', id);
  runInRequest(id, next);
};
