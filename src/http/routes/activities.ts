import { Router } from 'express';
import { z } from 'zod';
import { activityStream } from '../../domain/activity.js';
import { SEND_CHANNELS } from '../../domain/channels.js';
import { getActivity, listActivities } from '../../projections/activities.js';
import { deliveryOf } from '../../projections/activity-deliveries.js';
import { listCredentialBuckets, listTodaysCredentialBuckets } from '../../projections/credential-buckets.js';
import type { Runtime } from '../../runtime.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { notFound } from '../errors.js';
import { decodeCursor, pageQuery } from '../cursor.js';
import { isoInstant, parseQuery, uuid, uuidParam } from '../validate.js';
import { companyStreamHistory } from '../stream-history.js';
import { replyAfterWrite } from '../write-reply.js';

const STATUSES = [
  'requested',
  'approved',
  'dispatching',
  'draft_pending_approval',
  'sent',
  'sent_dryrun',
  'blocked_by_allowlist',
  'blocked_by_quota',
  'failed',
  'rejected',
] as const;

export const ListQuery = z
  .object({
    status: z.enum(STATUSES).optional(),
    channel: z.enum(SEND_CHANNELS).optional(),
    outboxId: uuid.optional(),
    since: isoInstant.optional(),
    until: isoInstant.optional(),
    ...pageQuery,
  })
  .strict();

export const BucketsQuery = z.object({ day: z.iso.date({ message: 'day must be a date, YYYY-MM-DD' }).optional() }).strict();

/** Activities (one per send) with their audit history, and the quota buckets. */
export function activitiesRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/activities';
  r.get(base, requireCompanyAccess, async (req, res) => {
    const q = parseQuery(ListQuery, req);
    res.json(
      await listActivities(rt.db, companyOf(res), {
        status: q.status,
        channel: q.channel,
        outboxId: q.outboxId,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit,
      }),
    );
  });
  r.get(`${base}/:activityId`, requireCompanyAccess, async (req, res) => {
    const activity = await getActivity(rt.db, companyOf(res), uuidParam(req, 'activityId'));
    if (!activity) throw notFound('activity not found');
    res.json({ ...activity, ...(await deliveryOf(rt.db, activity.id)) });
  });
  r.get(`${base}/:activityId/history`, requireCompanyAccess, async (req, res) => {
    const activityId = uuidParam(req, 'activityId');
    res.json({ activityId, events: await companyStreamHistory(rt.store, activityStream(activityId), companyOf(res), 'activity') });
  });
  // A person's call (agents: 403) on a send whose outcome is unknown; no body. See Dispatcher.resend.
  r.post(`${base}/:activityId/resend`, requireCompanyAccess, requireBoard, async (req, res) => {
    const { result, position } = await rt.dispatcher.resend(companyOf(res), uuidParam(req, 'activityId'), actorOf(res));
    await replyAfterWrite(rt, res, position, 200, result);
  });
  r.get('/api/companies/:companyId/crm/credential-buckets', requireCompanyAccess, async (req, res) => {
    const { day } = parseQuery(BucketsQuery, req);
    res.json({
      items: day
        ? await listCredentialBuckets(rt.db, companyOf(res), day)
        : await listTodaysCredentialBuckets(rt.db, companyOf(res), rt.now()),
    });
  });
  return r;
}
