import { Router } from 'express';
import { z } from 'zod';
import { issueAgentKey, revokeAccessToken } from '../../commands/access-tokens.js';
import { listAgentKeys, tokenView } from '../../projections/access-tokens.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { replyAfterWrite } from '../write-reply.js';
import { parseBody, uuidParam } from '../validate.js';

export const IssueBody = z.object({ agentId: z.string().trim().min(1).max(200) }).strict();

/** Board users with access to a company issue, list and revoke its agents' keys. */
export function agentKeysRouter(rt: Runtime): Router {
  const r = Router();
  const guard = [requireCompanyAccess, requireBoard];
  r.post('/api/companies/:companyId/agent-keys', ...guard, async (req, res) => {
    const { agentId } = parseBody(IssueBody, req);
    const issued = await issueAgentKey(rt.store, { agentId, companyId: companyOf(res) }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, issued.position, 201, { id: issued.id, token: issued.token });
  });
  r.get('/api/companies/:companyId/agent-keys', ...guard, async (_req, res) => {
    res.json({ items: (await listAgentKeys(rt.db, companyOf(res))).map(tokenView) });
  });
  r.delete('/api/companies/:companyId/agent-keys/:keyId', ...guard, async (req, res) => {
    const position = await revokeAccessToken(
      rt.store,
      { tokenId: uuidParam(req, 'keyId'), kind: 'agent', companyId: companyOf(res) },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
