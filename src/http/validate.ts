import type { Request } from 'express';
import { z } from 'zod';
import { unstorableString } from '../eventstore/port.js';
import { HttpError } from './errors.js';

const MAX_DEPTH = 32;

/** Finds the first string (or key) that cannot be stored, or nesting past MAX_DEPTH, without recursion. */
function unstorable(value: unknown): string | null {
  const stack: [unknown, (string | number)[]][] = [[value, []]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (path.length > MAX_DEPTH) return `input is nested more than ${MAX_DEPTH} levels deep`;
    if (typeof v === 'string') {
      const p = unstorableString(v);
      if (p) return `${path.join('.') || 'value'} ${p}`;
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const p = unstorableString(k);
        if (p) return `a key ${p}`;
        stack.push([child, [...path, k]]);
      }
    }
  }
  return null;
}

/**
 * An ISO 8601 instant with an offset, in years 1 to 9999: JavaScript and zod accept year 0, PostgreSQL reads it
 * as 1 BC and PGlite refuses it (a 500). Every time a client may send goes through this one check.
 */
export const isoInstant = z.iso.datetime({ offset: true }).refine((s) => {
  const year = new Date(s).getUTCFullYear();
  return year >= 1 && year <= 9999;
}, 'must be a time between the years 1 and 9999');

export const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID')
  .transform((s) => s.toLowerCase());

/** Parses a JSON body against a strict schema: unknown fields are a 400 like any other bad field. */
export function parseBody<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  const body: unknown = req.body;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    if (req.is('application/json') === false || body === undefined)
      throw new HttpError(400, 'Expected a JSON object body (Content-Type: application/json)');
    throw new HttpError(400, 'Expected a JSON object body');
  }
  const problem = unstorable(body);
  if (problem) throw new HttpError(400, problem);
  const r = schema.safeParse(body);
  if (!r.success)
    throw new HttpError(
      400,
      'Validation failed',
      r.error.issues.map(({ code, path, message }) => ({ code, path, message })),
    );
  return r.data;
}

export function parseQuery<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  const problem = unstorable(req.query);
  if (problem) throw new HttpError(400, problem);
  const r = schema.safeParse(req.query);
  if (!r.success)
    throw new HttpError(
      400,
      'Invalid query parameters',
      r.error.issues.map(({ code, path, message }) => ({ code, path, message })),
    );
  return r.data;
}

/** A path parameter that must be a UUID: malformed is 400. */
export function uuidParam(req: Request, name: string): string {
  const r = uuid.safeParse(req.params[name]);
  if (!r.success) throw new HttpError(400, `${name} must be a UUID`);
  return r.data;
}
