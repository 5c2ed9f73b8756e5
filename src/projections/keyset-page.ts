import { encodeCursor } from '../http/cursor.js';

/** Where the previous page of a list ended: its last row's (createdAt, id), the order lists are kept in. */
export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

/**
 * The condition that keeps the rows after `after` in (created_at, id) order (`desc`: newest first), its values
 * pushed onto `params`. `alias` names the table in a join.
 */
export function afterCursor(params: unknown[], after: KeysetCursor, order: 'asc' | 'desc' = 'asc', alias = ''): string {
  params.push(after.createdAt, after.id);
  const col = alias ? `${alias}.` : '';
  return `(${col}created_at, ${col}id) ${order === 'asc' ? '>' : '<'} ($${params.length - 1}, $${params.length})`;
}

/**
 * One page of rows fetched with `LIMIT limit + 1`: the extra row only says that there is a next page, whose
 * cursor (src/http/cursor.ts) is the last row kept.
 */
export function keysetPage<R extends { created_at: Date; id: string }, V>(
  rows: R[],
  limit: number,
  view: (r: R) => V,
): { items: V[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(view),
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}
