import type { Application, ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import {
  IdempotencyConflictError,
  InvalidEventError,
  InvalidExpectedRevisionError,
  InvalidStreamNameError,
  StreamDeletedError,
  WrongExpectedRevisionError,
} from '../eventstore/port.js';
import { DomainError, type DomainErrorKind } from '../domain/decider.js';
import { isBackendDown } from '../backend-errors.js';
import type { Logger } from '../logger.js';

/** An error with an HTTP status, thrown by handlers and guards. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details?: unknown) => new HttpError(400, message, details);
export const notFound = (message = 'Not found') => new HttpError(404, message);
export const conflict = (message: string, details?: unknown) => new HttpError(409, message, details);

const DOMAIN_STATUS: Record<DomainErrorKind, number> = {
  invalid_input: 400,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  invalid_state: 422,
};

/**
 * Input the database refuses as such (NUL in text, bad encoding, untranslatable characters) or too deeply
 * nested to process: the request is at fault, not the service.
 */
function isUnstorableInput(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  // 22007/22008: a date or time the database cannot represent.
  if (code === '22P05' || code === '22021' || code === '22P02' || code === '22007' || code === '22008' || code === '54001') return true;
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** Maps every error to the JSON shape `{error, details?}`; never a stack trace, never an internal message. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    let status = 500;
    let body: { error: string; details?: unknown } = { error: 'Internal error' };
    const e = err as { type?: string; status?: number; statusCode?: number };
    if (err instanceof HttpError) {
      status = err.status;
      body = { error: err.message, ...(err.details === undefined ? {} : { details: err.details }) };
    } else if (err instanceof DomainError) {
      status = DOMAIN_STATUS[err.kind];
      body = { error: err.message, ...(err.details === undefined ? {} : { details: err.details }) };
    } else if (err instanceof ZodError) {
      status = 400;
      body = { error: 'Validation failed', details: err.issues };
    } else if (e?.type === 'entity.too.large') {
      status = 413;
      body = { error: 'Request body too large' };
    } else if (e?.type === 'entity.parse.failed') {
      status = 400;
      body = { error: 'Malformed JSON body' };
    } else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      status = e.status;
      body = { error: e.status === 415 ? 'Unsupported content type or encoding' : 'Bad request' };
    } else if (err instanceof WrongExpectedRevisionError || err instanceof IdempotencyConflictError) {
      status = 409;
      body = { error: 'Conflict: the resource was changed concurrently, retry the request' };
    } else if (err instanceof StreamDeletedError) {
      // Deleted on the event store by an operator: a retry cannot succeed, unlike a concurrent change.
      status = 409;
      body = { error: 'Conflict: this record was deleted from the event store' };
    } else if (err instanceof InvalidStreamNameError || err instanceof InvalidExpectedRevisionError || err instanceof InvalidEventError) {
      status = 400;
      body = { error: err.message };
    } else if (isUnstorableInput(err)) {
      status = 400;
      body = { error: 'The input has characters or nesting that cannot be stored' };
    } else if (isBackendDown(err)) {
      status = 503;
      body = { error: 'Service unavailable: a backend is unreachable' };
    }
    if (status >= 500) logger.error('request failed', { method: req.method, path: req.path, status, error: err });
    else logger.debug('request refused', { method: req.method, path: req.path, status });
    res.status(status).json(body);
  };
}

interface RouterLayer {
  route?: { methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  match(path: string): unknown;
}

/** The route layers of an app, its routers' included (they are all mounted at the root, with full paths). */
function routeLayers(app: Application): RouterLayer[] {
  const out: RouterLayer[] = [];
  const walk = (stack: RouterLayer[]) => {
    for (const layer of stack) {
      if (layer.route) out.push(layer);
      else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack);
  return out;
}

const layersOf = new WeakMap<Application, RouterLayer[]>();

/** The methods the app's routes serve on `path` (HEAD wherever GET is, as express answers it), sorted. */
function allowedMethods(app: Application, path: string): string[] {
  let layers = layersOf.get(app);
  if (!layers) layersOf.set(app, (layers = routeLayers(app)));
  const methods = new Set<string>();
  for (const layer of layers) {
    if (!layer.match(path)) continue;
    for (const [m, on] of Object.entries(layer.route!.methods)) if (on && m !== '_all') methods.add(m.toUpperCase());
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

/**
 * The end of the chain: a path some route serves under another method is a 405 naming the methods in `Allow`
 * (RFC 9110 §15.5.6), read from the routes the app registered; any other path is a 404.
 */
export const unknownRoute: RequestHandler = (req, res, next) => {
  const allow = allowedMethods(req.app, req.path);
  // A route of this method that passed the request on has not refused the method: that is not a 405.
  if (allow.length === 0 || allow.includes(req.method)) return next(notFound('Unknown route'));
  res.set('Allow', allow.join(', '));
  next(new HttpError(405, `Method ${req.method} is not allowed here`, { code: 'method_not_allowed', allow }));
};
