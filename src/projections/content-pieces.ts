import type { ContentPieceEvent, ContentPieceFields } from '../domain/content-piece.js';
import type { Queryable } from '../sql/db.js';
import { updateChangedColumns } from './apply-changes.js';
import { afterCursor, type KeysetCursor, keysetPage } from './keyset-page.js';
import { defineProjection } from './projection.js';

const COLUMN: Record<keyof ContentPieceFields, string> = {
  title: 'title',
  summary: 'summary',
  sourcePath: 'source_path',
  sourceSha256: 'source_sha256',
  tags: 'tags',
  channelIntent: 'channel_intent',
  niche: 'niche',
  frontmatter: 'frontmatter',
};

const dbValue = (k: keyof ContentPieceFields, v: unknown) => (k === 'frontmatter' && v !== null ? JSON.stringify(v) : v);

export const contentPiecesProjection = defineProjection<ContentPieceEvent>()({
  name: 'content_pieces',
  tables: ['crm_content_pieces'],
  on: {
    ContentPieceCreated: ({ data: { fields: f, ...d } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_content_pieces')} (id, company_id, title, summary, source_path, source_sha256, tags, channel_intent, niche, frontmatter, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (id) DO NOTHING`,
        [
          d.pieceId,
          d.companyId,
          f.title,
          f.summary,
          f.sourcePath,
          f.sourceSha256,
          f.tags,
          f.channelIntent,
          f.niche,
          dbValue('frontmatter', f.frontmatter),
          d.createdAt,
        ],
      ),
    ContentPieceUpdated: ({ data: d }, { tx, table }) =>
      updateChangedColumns(tx, table('crm_content_pieces'), d.pieceId, d.updatedAt, d.changes, COLUMN, ['frontmatter']),
    ContentPieceDeleted: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_content_pieces')} SET deleted_at = coalesce(deleted_at, $2) WHERE id = $1`, [d.pieceId, d.deletedAt]),
  },
});

interface Row {
  id: string;
  title: string;
  summary: string | null;
  source_path: string;
  source_sha256: string;
  tags: string[];
  channel_intent: string | null;
  niche: string | null;
  frontmatter: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

const view = (r: Row) => ({
  id: r.id,
  title: r.title,
  summary: r.summary,
  sourcePath: r.source_path,
  sourceSha256: r.source_sha256,
  tags: r.tags,
  channelIntent: r.channel_intent,
  niche: r.niche,
  frontmatter: r.frontmatter,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type ContentPieceView = ReturnType<typeof view>;

export async function listContentPieces(
  q: Queryable,
  companyId: string,
  filter: { niche?: string; channelIntent?: string; sourcePath?: string; after?: KeysetCursor; limit: number },
): Promise<{ items: ContentPieceView[]; nextCursor: string | null }> {
  const params: unknown[] = [companyId];
  const where = ['company_id = $1', 'deleted_at IS NULL'];
  for (const [key, col] of [
    ['niche', 'niche'],
    ['channelIntent', 'channel_intent'],
    ['sourcePath', 'source_path'],
  ] as const) {
    if (filter[key] !== undefined) {
      params.push(filter[key]);
      where.push(`${col} = $${params.length}`);
    }
  }
  // Oldest first, as before paging: the cursor is the last row of the previous page.
  if (filter.after) where.push(afterCursor(params, filter.after));
  params.push(filter.limit + 1);
  const { rows } = await q.query<Row>(
    `SELECT * FROM crm_content_pieces WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT $${params.length}`,
    params,
  );
  return keysetPage(rows, filter.limit, view);
}

export async function getContentPiece(q: Queryable, companyId: string, id: string): Promise<ContentPieceView | null> {
  const { rows } = await q.query<Row>(`SELECT * FROM crm_content_pieces WHERE company_id = $1 AND id = $2 AND deleted_at IS NULL`, [
    companyId,
    id,
  ]);
  return rows[0] ? view(rows[0]) : null;
}
