import { Router } from 'express';
import { z } from 'zod';
import { addInstanceSecretVersion, addSecretVersion, createInstanceSecret, createSecret } from '../../commands/secrets.js';
import { listInstanceSecrets, listSecrets } from '../../projections/secrets.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess, requireInstanceAdmin } from '../auth.js';
import { replyAfterWrite } from '../write-reply.js';
import { parseBody, uuidParam } from '../validate.js';

const MAX_SECRET_BYTES = 16 * 1024;
const value = z
  .string()
  .min(1)
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES, `value must be at most ${MAX_SECRET_BYTES} bytes`);
export const CreateBody = z.object({ name: z.string().trim().min(1).max(200), value }).strict();
export const VersionBody = z.object({ value }).strict();

/**
 * Secrets of a company (its board users), and the instance's (instance admins: what instance configuration
 * such as post-issue hooks signs with). Values go in, metadata comes out, never a value. Each side sees only
 * its own: an instance secret is as unknown to a company's routes as another company's secret is.
 */
export function secretsRouter(rt: Runtime): Router {
  const r = Router();
  const guard = [requireCompanyAccess, requireBoard];
  r.post('/api/companies/:companyId/crm/secrets', ...guard, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const s = await createSecret(rt.store, rt.masterKey, { companyId: companyOf(res), ...body }, actorOf(res), rt.now(), rt.db);
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
  r.post('/api/admin/secrets', requireInstanceAdmin, async (req, res) => {
    const body = parseBody(CreateBody, req);
    const s = await createInstanceSecret(rt.store, rt.masterKey, body, actorOf(res), rt.now(), rt.db);
    await replyAfterWrite(rt, res, s.position, 201, { id: s.id, version: s.version, ref: s.ref });
  });
  r.post('/api/admin/secrets/:secretId/versions', requireInstanceAdmin, async (req, res) => {
    const body = parseBody(VersionBody, req);
    const s = await addInstanceSecretVersion(
      rt.store,
      rt.masterKey,
      { secretId: uuidParam(req, 'secretId'), value: body.value },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, s.position, 201, { id: s.id, version: s.version, ref: s.ref });
  });
  r.get('/api/admin/secrets', requireInstanceAdmin, async (_req, res) => {
    res.json({ items: await listInstanceSecrets(rt.db) });
  });
  return r;
}
