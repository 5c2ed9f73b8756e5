import { Router } from 'express';
import { z } from 'zod';
import { AuditInputError, history, stateAsOf } from '../../audit/replay.js';
import type { Runtime } from '../../runtime.js';
import { requireInstanceAdmin } from '../auth.js';
import { badRequest, notFound } from '../errors.js';
import { isoInstant, parseQuery } from '../validate.js';

export const StateQuery = z.object({ asOf: isoInstant.optional() }).strict();

const refused = (err: unknown): never => {
  throw err instanceof AuditInputError ? badRequest(err.message) : err;
};

/**
 * Audit replay for instance admins, across companies: an aggregate's events, and its state as it was at an
 * instant (the decider folded over the events recorded up to then). Company members have the `/history` routes.
 */
export function auditRouter(rt: Runtime): Router {
  const r = Router();
  r.get('/api/admin/history/:kind/:id', requireInstanceAdmin, async (req, res) => {
    const kind = String(req.params.kind);
    const id = String(req.params.id);
    const events = await history(rt.store, kind, id).catch(refused);
    if (!events) throw notFound(`No ${kind} ${id}`);
    res.json({ kind, id, events });
  });
  r.get('/api/admin/state/:kind/:id', requireInstanceAdmin, async (req, res) => {
    const { asOf } = parseQuery(StateQuery, req);
    const kind = String(req.params.kind);
    const id = String(req.params.id);
    const state = await stateAsOf(rt.store, kind, id, asOf ? new Date(asOf) : null).catch(refused);
    if (!state) throw notFound(`No ${kind} ${id}`);
    res.json(state);
  });
  return r;
}
