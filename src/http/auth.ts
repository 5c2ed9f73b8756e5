import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AGENT_KEY, BOARD_TOKEN, hashToken } from '../commands/access-tokens.js';
import { type Actor, LOCAL_OPERATOR, canAccessCompany } from '../commands/actor.js';
import { findTokenByHash, touchToken } from '../projections/access-tokens.js';
import type { Runtime } from '../runtime.js';
import { HttpError } from './errors.js';
import { uuidParam } from './validate.js';

const MAX_AUTHORIZATION_LENGTH = 256;
const TOUCH_EVERY_MS = 60_000;

const unauthorized = () => new HttpError(401, 'Unauthorized');
const forbidden = (message = 'Forbidden') => new HttpError(403, message);

const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

function isLoopbackRequest(req: Request): boolean {
  const host = req.headers.host;
  if (!host || !LOOPBACK_HOST.test(host)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return LOOPBACK_HOST.test(new URL(origin).host);
  } catch {
    return false;
  }
}

export function actorOf(res: Response): Actor {
  const actor = res.locals.actor as Actor | undefined;
  if (!actor) throw unauthorized();
  return actor;
}

/**
 * Resolves the bearer token to an actor (or leaves the request anonymous). Malformed, unknown, revoked and
 * expired tokens are all the same 401: nothing about a token is revealed.
 */
export function authenticate(rt: Runtime): RequestHandler {
  const lastTouched = new Map<string, number>();
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (rt.config.authMode === 'local_trusted') {
        // Trust only what provably comes from this machine: a web page elsewhere can make a browser send
        // requests here (DNS rebinding sends its own Host, cross-site forms their Origin).
        if (!isLoopbackRequest(req)) throw forbidden('local_trusted mode accepts loopback Host and Origin only');
        res.locals.actor = LOCAL_OPERATOR;
        return next();
      }
      const header = req.headers.authorization;
      if (header === undefined) return next();
      if (header.length > MAX_AUTHORIZATION_LENGTH) throw unauthorized();
      const m = /^Bearer (\S+)$/i.exec(header);
      const token = m?.[1];
      if (!token || !(BOARD_TOKEN.test(token) || AGENT_KEY.test(token))) throw unauthorized();
      const row = await findTokenByHash(rt.db, hashToken(token));
      const now = rt.now();
      if (!row || row.revoked_at || (row.expires_at && row.expires_at.getTime() <= now.getTime())) throw unauthorized();
      res.locals.actor =
        row.kind === 'board'
          ? { kind: 'board', tokenId: row.id, userId: row.user_id!, instanceAdmin: row.instance_admin, companyIds: row.company_ids }
          : { kind: 'agent', tokenId: row.id, agentId: row.agent_id!, companyId: row.company_ids[0]! };
      const last = lastTouched.get(row.id) ?? 0;
      if (now.getTime() - last >= TOUCH_EVERY_MS) {
        if (lastTouched.size > 10_000) lastTouched.clear();
        lastTouched.set(row.id, now.getTime());
        // Awaited (once a minute per token) so a list read right after a use shows it; a failure is telemetry
        // lost, never a failed request.
        await touchToken(rt.db, row.id, now).catch(() => lastTouched.delete(row.id));
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** Any authenticated actor. Mounted on /api before the body is parsed: anonymous callers get 401 first. */
export const requireActor: RequestHandler = (_req, res, next) => {
  if (!res.locals.actor) return next(unauthorized());
  next();
};

export const requireInstanceAdmin: RequestHandler = (_req, res, next) => {
  const actor = res.locals.actor as Actor | undefined;
  if (!actor) return next(unauthorized());
  if (actor.kind !== 'board' || !actor.instanceAdmin) return next(forbidden('Instance admin only'));
  next();
};

/** `:companyId` must be a UUID (400) the actor may act for (403); sets `res.locals.companyId`. */
export const requireCompanyAccess: RequestHandler = (req, res, next) => {
  const actor = res.locals.actor as Actor | undefined;
  if (!actor) return next(unauthorized());
  try {
    const companyId = uuidParam(req, 'companyId');
    if (!canAccessCompany(actor, companyId)) return next(forbidden());
    res.locals.companyId = companyId;
    next();
  } catch (err) {
    next(err);
  }
};

/** Board users only (people, not agents). Use after `requireCompanyAccess`. */
export const requireBoard: RequestHandler = (_req, res, next) => {
  const actor = res.locals.actor as Actor | undefined;
  if (!actor) return next(unauthorized());
  if (actor.kind !== 'board') return next(forbidden('Board users only'));
  next();
};

export const companyOf = (res: Response): string => res.locals.companyId as string;
