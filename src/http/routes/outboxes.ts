import { Router } from 'express';
import { z } from 'zod';
import { OUTBOX_CONFIG, baseUrlRefusal } from '../../channels/schemas.js';
import { createOutbox, deleteOutbox, loadOutbox, updateOutbox } from '../../commands/outboxes.js';
import { NICHE, OUTBOX_CHANNELS } from '../../domain/channels.js';
import { DomainError } from '../../domain/decider.js';
import { DEFAULT_DAILY_CAP } from '../../domain/outbox.js';
import { LIMIT_PERIODS, LIMIT_UNITS, MAX_LIMITS, limitsProblem } from '../../domain/quota-limits.js';
import { isTimeZone } from '../../domain/time-window.js';
import { credentialTimezones, getOutbox, listOutboxes } from '../../projections/outboxes.js';
import type { Runtime } from '../../runtime.js';
import { parseSecretRef } from '../../secrets/secret-ref.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { HttpError, notFound } from '../errors.js';
import { parseBody, uuidParam } from '../validate.js';
import { replyAfterWrite } from '../write-reply.js';

const fields = {
  niche: z.string().regex(NICHE, 'niche must be a slug (a-z, 0-9, -)').nullable(),
  secretRef: z.string().refine((r) => parseSecretRef(r) !== null, 'secretRef must be secret://<uuid>:<version|latest>'),
  config: z.record(z.string(), z.unknown()),
  dailyCap: z.number().int().min(0).max(1_000_000),
  timezone: z.string().refine(isTimeZone, 'timezone must be an IANA time zone, e.g. Europe/Paris'),
  limits: z
    .array(
      z
        .object({
          max: z.number().int().min(1, 'max must be at least 1').max(1_000_000),
          per: z.enum(LIMIT_PERIODS),
          unit: z.enum(LIMIT_UNITS).default('sends'),
        })
        .strict(),
    )
    .max(MAX_LIMITS, `at most ${MAX_LIMITS} limits`)
    .superRefine((limits, ctx) => {
      const problem = limitsProblem(limits);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
};

export const CreateBody = z
  .object({
    channel: z.enum(OUTBOX_CHANNELS),
    niche: fields.niche.default(null),
    secretRef: fields.secretRef,
    config: fields.config,
    dailyCap: fields.dailyCap.optional(),
    timezone: fields.timezone.default('UTC'),
    limits: fields.limits.default([]),
  })
  .strict();

export const PatchBody = z
  .object(fields)
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');

function checkConfig(rt: Runtime, channel: keyof typeof OUTBOX_CONFIG, config: unknown) {
  const r = OUTBOX_CONFIG[channel].safeParse(config);
  if (!r.success)
    throw new HttpError(
      400,
      `config is not a valid ${channel} outbox config`,
      r.error.issues.map(({ code, path, message }) => ({ code, path: ['config', ...path], message })),
    );
  const refused = baseUrlRefusal(r.data, rt.egress);
  if (refused)
    throw new HttpError(400, `config.${refused.message}`, [{ code: refused.code, path: ['config', 'baseUrl'], message: refused.message }]);
  return r.data;
}

/**
 * Outboxes sharing a credential share its daily cap, so they must count the day in one time zone: two
 * clocks would make two buckets for one credential's day, and twice the cap.
 */
async function checkOneTimezone(rt: Runtime, companyId: string, secretRef: string, timezone: string, outboxId: string | null) {
  const ref = parseSecretRef(secretRef);
  if (!ref) return;
  const others = (await credentialTimezones(rt.db, companyId, ref.secretId, outboxId)).filter((tz) => tz !== timezone);
  if (others.length > 0) {
    throw new DomainError('invalid_state', `outboxes sharing this credential count the quota day in ${others[0]}; use the same timezone`);
  }
}

/** Outboxes: a channel, its configuration and the credential (secret) it sends with. Board users write. */
export function outboxesRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/outboxes';
  r.get(base, requireCompanyAccess, async (_req, res) => {
    res.json({ items: await listOutboxes(rt.db, companyOf(res)) });
  });
  r.post(base, requireCompanyAccess, requireBoard, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const config = checkConfig(rt, body.channel, body.config);
    await checkOneTimezone(rt, companyOf(res), body.secretRef, body.timezone, null);
    const { id, position } = await createOutbox(
      rt.store,
      rt.masterKey,
      { companyId: companyOf(res), fields: { ...body, config, dailyCap: body.dailyCap ?? DEFAULT_DAILY_CAP[body.channel] } },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 201, () => getOutbox(rt.db, companyOf(res), id));
  });
  r.get(`${base}/:outboxId`, requireCompanyAccess, async (req, res) => {
    const outbox = await getOutbox(rt.db, companyOf(res), uuidParam(req, 'outboxId'));
    if (!outbox) throw notFound('outbox not found');
    res.json(outbox);
  });
  r.patch(`${base}/:outboxId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const outboxId = uuidParam(req, 'outboxId');
    const changes = parseBody(PatchBody, req);
    const current = await loadOutbox(rt.store, companyOf(res), outboxId);
    if (!current) throw notFound('outbox not found');
    if (changes.config !== undefined) changes.config = checkConfig(rt, current.channel, changes.config);
    if (changes.timezone !== undefined || changes.secretRef !== undefined) {
      await checkOneTimezone(rt, companyOf(res), changes.secretRef ?? current.secretRef, changes.timezone ?? current.timezone, outboxId);
    }
    const { position } = await updateOutbox(
      rt.store,
      rt.masterKey,
      { companyId: companyOf(res), outboxId, changes },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 200, () => getOutbox(rt.db, companyOf(res), outboxId));
  });
  r.delete(`${base}/:outboxId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const { position } = await deleteOutbox(
      rt.store,
      { companyId: companyOf(res), outboxId: uuidParam(req, 'outboxId') },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 204);
  });
  return r;
}
