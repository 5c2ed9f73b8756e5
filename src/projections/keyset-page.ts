/** Where the previous page of a list ended: its last row's (createdAt, id), the order lists are kept in. */
export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

/**
 * One page of rows fetched with `LIMIT limit + 1`: the extra row only says that there is a next page, whose
 * cursor (base64url of `[createdAt, id]`, what src/http/cursor.ts decodes) is the last row kept.
 */
export function keysetPage<R extends { created_at: Date; id: string }, V>(rows: R[], limit: number, view: (r: R) => V): { items: V[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(view),
    nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify([last.created_at.toISOString(), last.id])).toString('base64url') : null,
  };
}
