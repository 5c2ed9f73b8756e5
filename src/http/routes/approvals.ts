import { Router } from 'express';
import { z } from 'zod';
import { listApprovals } from '../../projections/approvals.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess, requireInstanceAdmin } from '../auth.js';
import { parseBody, parseQuery, uuid } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

const MAX_IDS = 500;
const ids = z
  .array(uuid)
  .min(1)
  .max(MAX_IDS, `at most ${MAX_IDS} approvalIds`)
  .refine((a) => new Set(a).size === a.length, 'approvalIds has duplicates');
export const ApproveBody = z.object({ approvalIds: ids }).strict();
export const RejectBody = z.object({ approvalIds: ids, reason: z.string().max(1000).nullable().default(null) }).strict();
export const ListQuery = z.object({ status: z.enum(['pending', 'approved', 'rejected']).optional() }).strict();

export function approvalsRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/approvals';
  r.get(base, requireCompanyAccess, async (req, res) => {
    const { status } = parseQuery(ListQuery, req);
    res.json({ items: await listApprovals(rt.db, companyOf(res), status) });
  });
  // Instance admins only (the seed's audit fix): anyone else gets 403, never a silent no-op.
  r.post(`${base}/bulk-approve`, requireCompanyAccess, requireInstanceAdmin, async (req, res) => {
    const { approvalIds } = parseBody(ApproveBody, req);
    const { results, position } = await rt.dispatcher.approve(companyOf(res), approvalIds, actorOf(res));
    await replyAfterWrite(rt, res, position, 200, { results });
  });
  r.post(`${base}/bulk-reject`, requireCompanyAccess, requireBoard, async (req, res) => {
    const { approvalIds, reason } = parseBody(RejectBody, req);
    const { results, position } = await rt.dispatcher.reject(companyOf(res), approvalIds, reason, actorOf(res));
    await replyAfterWrite(rt, res, position, 200, { results });
  });
  return r;
}
