import { badRequest } from './errors.js';
import { uuid } from './validate.js';

/** A keyset cursor as the list queries give it (base64url of `[createdAt, id]`); anything else is a 400. */
export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const at = new Date(createdAt);
    if (Number.isNaN(at.getTime()) || !uuid.safeParse(id).success) throw new Error('bad');
    return { createdAt: at, id };
  } catch {
    throw badRequest('cursor is not one this API gave');
  }
}
