import { Router } from 'express';
import { z } from 'zod';
import { issueBoardToken, revokeAccessToken } from '../../commands/access-tokens.js';
import { listBoardTokens, tokenView } from '../../projections/access-tokens.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, requireInstanceAdmin } from '../auth.js';
import { replyAfterWrite } from '../write-reply.js';
import { parseBody, uuid, uuidParam } from '../validate.js';

export const IssueBody = z
  .object({
    userId: z.string().trim().min(1).max(200),
    instanceAdmin: z.boolean().default(false),
    companyIds: z.array(uuid).max(1000).default([]),
    ttlDays: z.number().int().min(0).max(3650).optional(),
  })
  .strict();

/** Instance admins issue, list and revoke board tokens. */
export function boardTokensRouter(rt: Runtime): Router {
  const r = Router();
  r.post('/api/admin/board-tokens', requireInstanceAdmin, async (req, res) => {
    const body = parseBody(IssueBody, req);
    const issued = await issueBoardToken(
      rt.store,
      { ...body, ttlDays: body.ttlDays ?? rt.config.boardTokenTtlDays },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, issued.position, 201, { id: issued.id, token: issued.token, expiresAt: issued.expiresAt });
  });
  r.get('/api/admin/board-tokens', requireInstanceAdmin, async (_req, res) => {
    res.json({ items: (await listBoardTokens(rt.db)).map(tokenView) });
  });
  r.delete('/api/admin/board-tokens/:tokenId', requireInstanceAdmin, async (req, res) => {
    const position = await revokeAccessToken(rt.store, { tokenId: uuidParam(req, 'tokenId'), kind: 'board' }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
