import { Router } from 'express';
import { z } from 'zod';
import { addSecretVersion, createSecret } from '../../commands/secrets.js';
import { listSecrets } from '../../projections/secrets.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { replyAfterWrite } from '../write-reply.js';
import { parseBody, uuidParam } from '../validate.js';

const MAX_SECRET_BYTES = 16 * 1024;
const value = z
  .string()
  .min(1)
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES, `value must be at most ${MAX_SECRET_BYTES} bytes`);
const CreateBody = z.object({ name: z.string().trim().min(1).max(200), value }).strict();
const VersionBody = z.object({ value }).strict();

/** Secrets of a company: board users only; values go in, metadata comes out, never a value. */
export function secretsRouter(rt: Runtime): Router {
  const r = Router();
  const guard = [requireCompanyAccess, requireBoard];
  r.post('/api/companies/:companyId/crm/secrets', ...guard, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const s = await createSecret(rt.store, rt.masterKey, { companyId: companyOf(res), ...body }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, s.position, 201, { id: s.id, version: s.version, ref: s.ref });
  });
  r.post('/api/companies/:companyId/crm/secrets/:secretId/versions', ...guard, async (req, res) => {
    const body = parseBody(VersionBody, req);
    const s = await addSecretVersion(
      rt.store,
      rt.masterKey,
      { companyId: companyOf(res), secretId: uuidParam(req, 'secretId'), value: body.value },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, s.position, 201, { id: s.id, version: s.version, ref: s.ref });
  });
  r.get('/api/companies/:companyId/crm/secrets', ...guard, async (_req, res) => {
    res.json({ items: await listSecrets(rt.db, companyOf(res)) });
  });
  return r;
}
