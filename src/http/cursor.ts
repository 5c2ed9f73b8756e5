import { badRequest } from './errors.js';
import { uuid } from './validate.js';

/** A keyset cursor as the list queries give it (base64url of `[createdAt, id]`); anything else is a 400. */
export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    // Only what this API writes: a plain ISO time. Other dates JavaScript accepts (year 0, +275760) PostgreSQL refuses.
    if (typeof createdAt !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(createdAt)) throw new Error('bad');
    const at = new Date(createdAt);
    if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1 || !uuid.safeParse(id).success) throw new Error('bad');
    return { createdAt: at, id };
  } catch {
    throw badRequest('cursor is not one this API gave');
  }
}
