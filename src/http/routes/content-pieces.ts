import { Router } from 'express';
import { z } from 'zod';
import { createContentPiece, deleteContentPiece, updateContentPiece } from '../../commands/content-pieces.js';
import { NICHE, SEND_CHANNELS } from '../../domain/channels.js';
import { sourcePathProblem } from '../../domain/source-path.js';
import { getContentPiece, listContentPieces } from '../../projections/content-pieces.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireCompanyAccess } from '../auth.js';
import { decodeCursor, pageQuery } from '../cursor.js';
import { notFound } from '../errors.js';
import { parseBody, parseQuery, uuidParam } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const capped = (field: string, limit: number) =>
  z.string().refine((s) => bytes(s) <= limit, { message: `${field} must be at most ${limit} bytes of UTF-8` });

export const CAPS = { title: 512, summary: 4096, tags: 50, tag: 64, frontmatter: 64 * 1024 } as const;

const fields = {
  title: capped('title', CAPS.title).pipe(z.string().trim().min(1, 'title must not be empty')),
  summary: capped('summary', CAPS.summary).nullable(),
  sourcePath: z.string().superRefine((p, ctx) => {
    const problem = sourcePathProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: `sourcePath ${problem}` });
  }),
  sourceSha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'sourceSha256 must be 64 hex characters')
    .transform((s) => s.toLowerCase()),
  tags: z
    .array(capped('each tag', CAPS.tag).pipe(z.string().min(1, 'tags must not be empty')))
    .max(CAPS.tags, `at most ${CAPS.tags} tags`)
    .transform((tags) => [...new Set(tags)]),
  channelIntent: z.enum(SEND_CHANNELS).nullable(),
  niche: z.string().regex(NICHE, 'niche must be a slug (a-z, 0-9, -)').nullable(),
  frontmatter: z
    .record(z.string(), z.unknown())
    .nullable()
    .refine((f) => f === null || bytes(JSON.stringify(f)) <= CAPS.frontmatter, {
      message: `frontmatter must be at most ${CAPS.frontmatter} bytes as JSON`,
    }),
};

export const CreateBody = z
  .object({
    title: fields.title,
    summary: fields.summary.default(null),
    sourcePath: fields.sourcePath,
    sourceSha256: fields.sourceSha256,
    tags: fields.tags.default([]),
    channelIntent: fields.channelIntent.default(null),
    niche: fields.niche.default(null),
    frontmatter: fields.frontmatter.default(null),
  })
  .strict();

export const PatchBody = z
  .object(fields)
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');

export const ListQuery = z
  .object({
    niche: z.string().max(64).optional(),
    channelIntent: z.string().max(32).optional(),
    sourcePath: z.string().max(1024).optional(),
    ...pageQuery,
  })
  .strict();

/** Content pieces: what sends are made of (their niche and tags feed the approval rules). */
export function contentPiecesRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/content-pieces';
  r.get(base, requireCompanyAccess, async (req, res) => {
    const { cursor, ...filter } = parseQuery(ListQuery, req);
    res.json(await listContentPieces(rt.db, companyOf(res), { ...filter, after: cursor ? decodeCursor(cursor) : undefined }));
  });
  r.post(base, requireCompanyAccess, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const { id, position } = await createContentPiece(rt.store, { companyId: companyOf(res), fields: body }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 201, () => getContentPiece(rt.db, companyOf(res), id));
  });
  r.get(`${base}/:pieceId`, requireCompanyAccess, async (req, res) => {
    const piece = await getContentPiece(rt.db, companyOf(res), uuidParam(req, 'pieceId'));
    if (!piece) throw notFound('content piece not found');
    res.json(piece);
  });
  r.patch(`${base}/:pieceId`, requireCompanyAccess, async (req, res) => {
    const pieceId = uuidParam(req, 'pieceId');
    const changes = parseBody(PatchBody, req);
    const { position } = await updateContentPiece(rt.store, { companyId: companyOf(res), pieceId, changes }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 200, () => getContentPiece(rt.db, companyOf(res), pieceId));
  });
  r.delete(`${base}/:pieceId`, requireCompanyAccess, async (req, res) => {
    const { position } = await deleteContentPiece(
      rt.store,
      { companyId: companyOf(res), pieceId: uuidParam(req, 'pieceId') },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
