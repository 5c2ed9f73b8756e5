import { Router } from 'express';
import { z } from 'zod';
import { liftSuppression, suppressRecipient } from '../../commands/suppressions.js';
import { suppressionKey } from '../../domain/recipients.js';
import { OUTBOX_CHANNELS } from '../../domain/channels.js';
import { SUPPRESSION_SOURCES, type SuppressionEntry } from '../../domain/suppression.js';
import { listSuppressions } from '../../projections/suppressions.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { decodeCursor } from '../cursor.js';
import { parseBody, parseQuery, uuidParam } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

export const AddBody = z
  .object({
    recipient: z.string().max(320),
    channel: z.enum(OUTBOX_CHANNELS).nullable().default(null),
    // Entries made over HTTP are manual; unsubscribes and bounces come from their own sources.
    reason: z.literal('manual').default('manual'),
  })
  .strict();

export const ListQuery = z
  .object({
    recipient: z.string().max(320).optional(),
    source: z.enum(SUPPRESSION_SOURCES).optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

const suppressionView = (e: SuppressionEntry) => ({
  id: e.suppressionId,
  recipient: e.recipient,
  channel: e.channel,
  source: e.source,
  reason: e.reason,
  createdAt: e.createdAt,
  createdBy: e.createdBy,
});

/**
 * Recipients never to contact again. Authorised like the allowlist (read: agents and board users; write:
 * board users), so that an agent can neither lift a suppression nor pad the list in place of a person.
 */
export function suppressionsRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/suppressions';
  r.get(base, requireCompanyAccess, async (req, res) => {
    const q = parseQuery(ListQuery, req);
    res.json(
      await listSuppressions(rt.db, companyOf(res), {
        // A filter, not an entry: a spelling that is no recipient finds nothing rather than a 400.
        recipient: q.recipient === undefined ? undefined : (suppressionKey(q.recipient, null, true) ?? q.recipient.trim().toLowerCase()),
        source: q.source,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit,
      }),
    );
  });
  r.post(base, requireCompanyAccess, requireBoard, async (req, res) => {
    const body = parseBody(AddBody, req);
    const { entry, created, position } = await suppressRecipient(
      rt.store,
      { companyId: companyOf(res), recipient: body.recipient, channel: body.channel, source: 'manual', reason: body.reason },
      rt.now(),
      actorOf(res),
    );
    // Suppressing twice is one entry: the repeat answers 200 with the entry in force.
    await replyAfterWrite(rt, res, position, created ? 201 : 200, suppressionView(entry));
  });
  r.delete(`${base}/:suppressionId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const { position } = await liftSuppression(
      rt.store,
      { companyId: companyOf(res), suppressionId: uuidParam(req, 'suppressionId') },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
