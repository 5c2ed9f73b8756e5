import { type Response, Router } from 'express';
import { z } from 'zod';
import { addApprovalRule, deleteApprovalRule, loadApprovalRules, updateApprovalRule } from '../../commands/approval-rules.js';
import { predicateProblem, ruleMatches } from '../../domain/approval-rules.js';
import { NICHE, SEND_CHANNELS } from '../../domain/channels.js';
import { DomainError } from '../../domain/decider.js';
import { HH_MM, isTimeZone } from '../../domain/time-window.js';
import { actorLabel } from '../../commands/actor.js';
import { listApprovalRules } from '../../projections/approval-rules.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { isoInstant, parseBody, uuidParam } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

const tag = z.string().min(1).max(64);
const Predicate = z
  .object({
    any: z.literal(true, 'any must be true (omit it to constrain the send instead)').optional(),
    channel: z.enum(SEND_CHANNELS).optional(),
    niche: z.string().regex(NICHE, 'niche must be a slug').optional(),
    tags: z.array(tag).max(50).optional(),
    timeOfDay: z
      .object({
        start: z.string().regex(HH_MM, 'start must be HH:MM'),
        end: z.string().regex(HH_MM, 'end must be HH:MM'),
        tz: z.string().refine(isTimeZone, 'tz must be an IANA time zone'),
      })
      .strict()
      .refine((w) => w.start !== w.end, { message: 'start and end must differ (end is exclusive)', path: ['end'] })
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const problem = predicateProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const Action = z.enum(['auto_approve', 'queue_for_manual']);
const Priority = z.number().int().min(-1_000_000).max(1_000_000);

export const CreateBody = z.object({ predicate: Predicate, action: Action, priority: Priority.default(100) }).strict();
export const PatchBody = z
  .object({ predicate: Predicate, action: Action, priority: Priority })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');
export const PreviewBody = z
  .object({
    channel: z.enum(SEND_CHANNELS),
    niche: z.string().regex(NICHE).nullable().default(null),
    tags: z.array(tag).max(100).default([]),
    at: isoInstant.optional(),
  })
  .strict();

/** Approval rules, evaluated by ascending priority (ties: oldest first); first match wins. Board users write. */
export function approvalRulesRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/approval-rules';
  const view = async (companyId: string, id: string) => (await listApprovalRules(rt.db, companyId)).find((x) => x.id === id);
  r.get(base, requireCompanyAccess, async (_req, res) => {
    res.json({ items: await listApprovalRules(rt.db, companyOf(res)) });
  });
  const changed = (res: Response, ruleId: string, change: 'created' | 'updated' | 'deleted') =>
    rt.logger.info('approval rule changed', { companyId: companyOf(res), ruleId, change, by: actorLabel(actorOf(res)) });
  r.post(base, requireCompanyAccess, requireBoard, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const { id, position } = await addApprovalRule(rt.aggregates, { companyId: companyOf(res), ...body }, actorOf(res), rt.now());
    changed(res, id, 'created');
    await replyAfterWrite(rt, res, position, 201, () => view(companyOf(res), id));
  });
  r.patch(`${base}/:ruleId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const ruleId = uuidParam(req, 'ruleId');
    const changes = parseBody(PatchBody, req);
    const { position } = await updateApprovalRule(rt.aggregates, { companyId: companyOf(res), ruleId, changes }, actorOf(res), rt.now());
    changed(res, ruleId, 'updated');
    await replyAfterWrite(rt, res, position, 200, () => view(companyOf(res), ruleId));
  });
  r.delete(`${base}/:ruleId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const ruleId = uuidParam(req, 'ruleId');
    const { position } = await deleteApprovalRule(rt.aggregates, { companyId: companyOf(res), ruleId }, actorOf(res), rt.now());
    changed(res, ruleId, 'deleted');
    await replyAfterWrite(rt, res, position, 204);
  });
  r.post(`${base}/:ruleId/preview`, requireCompanyAccess, async (req, res) => {
    const ruleId = uuidParam(req, 'ruleId');
    const body = parseBody(PreviewBody, req);
    const rule = (await loadApprovalRules(rt.aggregates, companyOf(res))).rules.get(ruleId);
    if (!rule) throw new DomainError('not_found', 'approval rule not found');
    const matches = ruleMatches(rule.predicate, {
      channel: body.channel,
      niche: body.niche,
      tags: body.tags,
      at: body.at ? new Date(body.at) : rt.now(),
    });
    res.json({ matches, action: rule.action });
  });
  return r;
}
