import { Router } from 'express';
import type { RebuildJob } from '../../projections/rebuild-jobs.js';
import type { Runtime } from '../../runtime.js';
import { requireInstanceAdmin } from '../auth.js';
import { conflict, notFound } from '../errors.js';
import { uuidParam } from '../validate.js';

const jobView = (j: RebuildJob) => ({ ...j, startedAt: j.startedAt.toISOString(), finishedAt: j.finishedAt?.toISOString() ?? null });

export function projectionsRouter(rt: Runtime): Router {
  const r = Router();
  r.get('/api/admin/projections', requireInstanceAdmin, async (_req, res) => {
    res.json({ items: await rt.engine.status() });
  });
  r.post('/api/admin/projections/:name/rebuild', requireInstanceAdmin, (req, res) => {
    const name = String(req.params.name);
    // Checked and started with no await between: a second request sees the first one's rebuild at once.
    const refusal = rt.engine.rebuildRefusal(name);
    if (refusal === 'unknown') throw notFound(`No projection named ${name}`);
    if (refusal === 'busy') throw conflict(`Projection ${name} is already being rebuilt`);
    // Built aside and swapped in (rebuild.ts): the live projection goes on serving meanwhile.
    const job = rt.rebuilds.start(name, (onProgress) => rt.engine.rebuild(name, onProgress));
    res.status(202).location(`/api/admin/projections/rebuilds/${job.id}`).json(jobView(job));
  });
  r.get('/api/admin/projections/rebuilds/:rebuildId', requireInstanceAdmin, (req, res) => {
    const job = rt.rebuilds.get(uuidParam(req, 'rebuildId'));
    if (!job) throw notFound('No such rebuild on this instance');
    res.json(jobView(job));
  });
  return r;
}
