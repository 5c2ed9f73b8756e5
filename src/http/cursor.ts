import { z } from 'zod';
import { badRequest } from './errors.js';
import { isoInstant, uuid } from './validate.js';

/**
 * Where a list's page ended, as the API hands it out: base64url of `[createdAt, id]` of the page's last row.
 * Encoded and decoded here only, so that the two cannot drift apart; the read models' pages encode with it.
 */
export function encodeCursor(last: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([last.createdAt.toISOString(), last.id])).toString('base64url');
}

/** A keyset cursor as encodeCursor gives it; anything else is a 400. */
export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (!isoInstant.safeParse(createdAt).success || !uuid.safeParse(id).success) throw new Error('bad');
    return { createdAt: new Date(createdAt as string), id: (id as string).toLowerCase() };
  } catch {
    throw badRequest('cursor is not one this API gave');
  }
}

/** The paging fields of a list's query: `cursor` from the previous page's nextCursor, `limit` 1 to 500 (50). */
export const pageQuery = {
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
};
