import { Router } from 'express';
import { z } from 'zod';
import { SEND_CHANNELS } from '../../domain/channels.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireCompanyAccess } from '../auth.js';
import { parseBody, uuid } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

export const SendBody = z
  .object({
    channel: z.enum(SEND_CHANNELS),
    outboxId: uuid,
    to: z.string().trim().min(1).max(500),
    payload: z.record(z.string(), z.unknown()),
    contentPieceId: uuid.nullable().optional(),
    clientDedupKey: z.string().min(1).max(200).nullable().optional(),
    tags: z.array(z.string().min(1).max(64)).max(50).optional(),
  })
  .strict();

/** POST send: the one entry to the dispatcher (allowlist -> approval rules -> quota -> channel adapter). */
export function sendRouter(rt: Runtime): Router {
  const r = Router();
  r.post('/api/companies/:companyId/crm/send', requireCompanyAccess, async (req, res) => {
    const body = parseBody(SendBody, req);
    const { result, position } = await rt.dispatcher.send(companyOf(res), body, actorOf(res));
    await replyAfterWrite(rt, res, position, 200, result);
  });
  return r;
}
