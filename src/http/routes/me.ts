import { Router } from 'express';
import { companiesWithOutboxes } from '../../projections/outboxes.js';
import type { Runtime } from '../../runtime.js';
import { actorOf } from '../auth.js';

/**
 * `GET /api/me`: who the caller is and the companies it may act for, for a console's sign-in and company picker.
 * A board user's are its token's; an instance admin may act for any, so it is offered every company that has an
 * outbox (companies exist only as ids here) as well; an agent, its one company.
 */
export function meRouter(rt: Runtime): Router {
  const r = Router();
  r.get('/api/me', async (_req, res) => {
    const actor = actorOf(res);
    if (actor.kind === 'agent') {
      res.json({ kind: 'agent', id: actor.agentId, instanceAdmin: false, authMode: rt.config.authMode, companies: [actor.companyId] });
      return;
    }
    const companies = new Set(actor.companyIds);
    if (actor.instanceAdmin) {
      for (const id of await companiesWithOutboxes(rt.db)) companies.add(id);
    }
    res.json({
      kind: 'board',
      id: actor.userId,
      instanceAdmin: actor.instanceAdmin,
      authMode: rt.config.authMode,
      companies: [...companies],
    });
  });
  return r;
}
