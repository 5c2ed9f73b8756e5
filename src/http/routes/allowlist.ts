import { Router } from 'express';
import { z } from 'zod';
import { addAllowlistEntry, removeAllowlistEntry } from '../../commands/allowlist.js';
import { ALLOWLIST_LIMITS, normalizePattern } from '../../domain/allowlist.js';
import { SEND_CHANNELS } from '../../domain/channels.js';
import { listAllowlist } from '../../projections/allowlist.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { decodeCursor } from '../cursor.js';
import { parseBody, parseQuery, uuidParam } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

export const AddBody = z
  .object({
    pattern: z
      .string()
      .max(ALLOWLIST_LIMITS.patternLength)
      .transform((p, ctx) => {
        const n = normalizePattern(p);
        if (!n) {
          ctx.addIssue({
            code: 'custom',
            message:
              'pattern must be one bare email address, *@domain.tld, an E.164 number, a LinkedIn profile URL, public identifier or member id, an Instagram IGSID, or *',
          });
          return z.NEVER;
        }
        return n.pattern;
      }),
    channel: z.enum(SEND_CHANNELS).nullable().default(null),
    note: z.string().max(ALLOWLIST_LIMITS.noteLength).nullable().default(null),
  })
  .strict();

// An allowlist may hold thousands of entries (ALLOWLIST_LIMITS): it is listed a page at a time. With no
// query the reply is what it always was for up to 100 entries, plus `nextCursor`.
export const ListQuery = z
  .object({
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

/** Who may be contacted at all. Only board users change it: agents must not widen their own reach. */
export function allowlistRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/allowlist';
  r.get(base, requireCompanyAccess, async (req, res) => {
    const q = parseQuery(ListQuery, req);
    res.json(await listAllowlist(rt.db, companyOf(res), { after: q.cursor ? decodeCursor(q.cursor) : undefined, limit: q.limit }));
  });
  r.post(base, requireCompanyAccess, requireBoard, async (req, res) => {
    const body = parseBody(AddBody, req);
    const { id, position } = await addAllowlistEntry(rt.aggregates, { companyId: companyOf(res), ...body }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 201, { id, ...body });
  });
  r.delete(`${base}/:entryId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const { position } = await removeAllowlistEntry(
      rt.aggregates,
      { companyId: companyOf(res), entryId: uuidParam(req, 'entryId') },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
