import { Router } from 'express';
import { z } from 'zod';
import { getBrandVoiceGuide, setBrandVoiceGuide } from '../../commands/brand-voice.js';
import { BrandVoiceGuideSchema } from '../../domain/brand-voice-guide.js';
import { SEND_CHANNELS } from '../../domain/channels.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { parseBody } from '../validate.js';

const MAX_DRAFT_BYTES = 256 * 1024;

export const CheckBody = z
  .object({
    contentSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'contentSha256 must be 64 hex characters')
      .transform((s) => s.toLowerCase()),
    draft: z.string().refine((d) => Buffer.byteLength(d, 'utf8') <= MAX_DRAFT_BYTES, `draft must be at most ${MAX_DRAFT_BYTES} bytes`),
    channel: z.enum(SEND_CHANNELS).nullable().default(null),
  })
  .strict();

/** The company's brand-voice guide (versioned) and the cached check of a draft against it. */
export function brandVoiceRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/brand-voice';
  r.get(`${base}/guide`, requireCompanyAccess, async (_req, res) => {
    const g = await getBrandVoiceGuide(rt.store, companyOf(res));
    res.json({ version: g.version, guide: g.guide, updatedAt: g.updatedAt });
  });
  r.put(`${base}/guide`, requireCompanyAccess, requireBoard, async (req, res) => {
    const guide = parseBody(BrandVoiceGuideSchema, req);
    const g = await setBrandVoiceGuide(rt.store, companyOf(res), guide, actorOf(res), rt.now());
    res.json({ version: g.version, guide: g.guide, updatedAt: g.updatedAt });
  });
  r.post(`${base}/check`, requireCompanyAccess, async (req, res) => {
    const body = parseBody(CheckBody, req);
    const result = await rt.brandVoice.check(companyOf(res), body, actorOf(res));
    res.json(result);
  });
  return r;
}
