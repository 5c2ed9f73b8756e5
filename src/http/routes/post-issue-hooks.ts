import { Router } from 'express';
import { z } from 'zod';
import { sha256Hex } from '../../commands/brand-voice.js';
import { reloadHookRegistry, runPostIssueHooks } from '../../commands/post-issue-hooks.js';
import { SEND_CHANNELS } from '../../domain/channels.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireCompanyAccess, requireInstanceAdmin } from '../auth.js';
import { parseBody } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

const label = z.string().trim().min(1).max(100);

export const RunBody = z
  .object({
    issueId: z.string().trim().min(1).max(200),
    status: label,
    labels: z.array(label).max(100).default([]),
    artifacts: z
      .array(
        z
          .object({
            contentSha256: z
              .string()
              .regex(/^[0-9a-fA-F]{64}$/, 'contentSha256 must be 64 hex characters')
              .transform((s) => s.toLowerCase()),
            draft: z.string().max(256 * 1024),
            channel: z.enum(SEND_CHANNELS).nullable().default(null),
          })
          .strict()
          .refine((a) => sha256Hex(a.draft) === a.contentSha256, {
            message: 'contentSha256 is not the SHA-256 of draft',
            path: ['contentSha256'],
          }),
      )
      .max(100)
      .default([]),
  })
  .strict();

export function postIssueHooksRouter(rt: Runtime): Router {
  const r = Router();
  r.post('/api/admin/post-issue-hooks/reload', requireInstanceAdmin, async (_req, res) => {
    const { position, ...summary } = await reloadHookRegistry(rt, actorOf(res));
    await replyAfterWrite(rt, res, position, 200, summary);
  });
  r.post('/api/companies/:companyId/crm/post-issue-hooks/run', requireCompanyAccess, async (req, res) => {
    const issue = parseBody(RunBody, req);
    res.json(await runPostIssueHooks(rt, companyOf(res), issue, actorOf(res)));
  });
  return r;
}
