import { Router } from 'express';
import { z } from 'zod';
import { enroll } from '../../commands/enrollments.js';
import { createSequence, deleteSequence, pauseSequence, resumeSequence, stopEnrollment, updateSequence } from '../../commands/sequences.js';
import { SEND_CHANNELS } from '../../domain/channels.js';
import { enrollmentStream } from '../../domain/enrollment.js';
import { parseIsoDuration } from '../../domain/iso-duration.js';
import { STOP_CAUSES, type SequenceDefinition } from '../../domain/sequence.js';
import { validTimeZone } from '../../domain/send-window.js';
import { HH_MM } from '../../domain/time-window.js';
import { getEnrollment, listEnrollments, sequenceStats } from '../../projections/enrollments.js';
import { getSequence, listSequences } from '../../projections/sequences.js';
import type { Runtime } from '../../runtime.js';
import { decodeCursor } from '../cursor.js';
import { notFound } from '../errors.js';
import { actorOf, companyOf, requireBoard, requireCompanyAccess } from '../auth.js';
import { parseBody, parseQuery, uuid, uuidParam } from '../validate.js';
import { companyStreamHistory } from '../stream-history.js';
import { replyAfterWrite } from '../write-reply.js';

const Step = z
  .object({
    outboxId: uuid,
    channel: z.enum(SEND_CHANNELS).optional(),
    payload: z.record(z.string(), z.unknown()),
    contentPieceId: uuid.nullable().optional(),
    tags: z.array(z.string().min(1).max(64)).max(50).optional(),
    waitBefore: z
      .string()
      .max(40)
      .refine((d) => parseIsoDuration(d) !== null, 'waitBefore must be an ISO-8601 duration (PT0S, PT4H, P2D)'),
  })
  .strict();
const Day = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
const SendWindow = z
  .object({
    days: z.array(Day).min(1).max(7),
    start: z.string().regex(HH_MM, 'start must be HH:MM'),
    end: z.string().regex(HH_MM, 'end must be HH:MM'),
    tz: z.string().max(64).refine(validTimeZone, 'tz must be an IANA time zone').optional(),
  })
  .strict()
  .refine((w) => w.start < w.end, { message: 'start must be before end (the same day)', path: ['end'] });
const Steps = z.array(Step).min(1, 'a sequence has 1 to 20 steps').max(20, 'a sequence has 1 to 20 steps');
const StopOn = z.array(z.enum(STOP_CAUSES)).max(4);
const Name = z.string().trim().min(1).max(200);

export const CreateBody = z
  .object({ name: Name, steps: Steps, sendWindow: SendWindow.nullable().optional(), stopOn: StopOn.optional() })
  .strict()
  .transform((b): SequenceDefinition => ({
    name: b.name,
    steps: b.steps,
    sendWindow: b.sendWindow ?? null,
    stopOn: [...new Set(b.stopOn ?? STOP_CAUSES)],
  }));
export const PatchBody = z
  .object({ name: Name, steps: Steps, sendWindow: SendWindow.nullable(), stopOn: StopOn })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');
export const EnrollBody = z
  .object({
    contacts: z
      .array(
        z
          .object({
            to: z.string().trim().min(1).max(500),
            variables: z.record(z.string().max(100), z.string().max(10_000)).optional(),
            timezone: z.string().max(64).refine(validTimeZone, 'timezone must be an IANA time zone').optional(),
          })
          .strict(),
      )
      .min(1, '1 to 1,000 contacts')
      .max(1000, '1 to 1,000 contacts'),
  })
  .strict();
const Page = { cursor: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(500).default(100) };
export const ListQuery = z.object(Page).strict();
export const EnrollmentsQuery = z
  .object({ ...Page, status: z.enum(['active', 'waiting_approval', 'paused', 'completed', 'stopped']).optional() })
  .strict();

/**
 * Sequences: steps sent through the dispatcher by the scheduler (src/sequences/scheduler.ts), to enrolled
 * contacts, until a reply or another stop. Board users write sequences; agents and board users read them and enroll.
 */
export function sequencesRouter(rt: Runtime): Router {
  const r = Router();
  const base = '/api/companies/:companyId/crm/sequences';
  const enrollments = '/api/companies/:companyId/crm/enrollments';
  const view = async (companyId: string, id: string) => {
    const s = await getSequence(rt.db, companyId, id);
    if (!s) throw notFound('sequence not found');
    return s;
  };
  r.get(base, requireCompanyAccess, async (req, res) => {
    const q = parseQuery(ListQuery, req);
    res.json(await listSequences(rt.db, companyOf(res), { after: q.cursor ? decodeCursor(q.cursor) : undefined, limit: q.limit }));
  });
  r.post(base, requireCompanyAccess, requireBoard, async (req, res) => {
    const definition = parseBody(CreateBody, req);
    const { id, position } = await createSequence(rt.store, { companyId: companyOf(res), definition }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 201, () => view(companyOf(res), id));
  });
  r.get(`${base}/:sequenceId`, requireCompanyAccess, async (req, res) => {
    res.json(await view(companyOf(res), uuidParam(req, 'sequenceId')));
  });
  r.patch(`${base}/:sequenceId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const sequenceId = uuidParam(req, 'sequenceId');
    const body = parseBody(PatchBody, req);
    const changes = { ...body, ...(body.stopOn ? { stopOn: [...new Set(body.stopOn)] } : {}) };
    const { position } = await updateSequence(rt.store, { companyId: companyOf(res), sequenceId, changes }, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 200, () => view(companyOf(res), sequenceId));
  });
  r.delete(`${base}/:sequenceId`, requireCompanyAccess, requireBoard, async (req, res) => {
    const input = { companyId: companyOf(res), sequenceId: uuidParam(req, 'sequenceId') };
    const { position } = await deleteSequence(rt.store, rt.db, input, actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 204);
  });
  for (const [action, command] of [
    ['pause', pauseSequence],
    ['resume', resumeSequence],
  ] as const) {
    r.post(`${base}/:sequenceId/${action}`, requireCompanyAccess, requireBoard, async (req, res) => {
      const sequenceId = uuidParam(req, 'sequenceId');
      const { position } = await command(rt.store, { companyId: companyOf(res), sequenceId }, actorOf(res), rt.now());
      await replyAfterWrite(rt, res, position, 200, () => view(companyOf(res), sequenceId));
    });
  }
  r.post(`${base}/:sequenceId/enrollments`, requireCompanyAccess, async (req, res) => {
    const sequenceId = uuidParam(req, 'sequenceId');
    const { contacts } = parseBody(EnrollBody, req);
    const { enrollments: result, position } = await enroll(
      rt.store,
      { companyId: companyOf(res), sequenceId, contacts },
      actorOf(res),
      rt.now(),
    );
    await replyAfterWrite(rt, res, position, 201, { enrollments: result });
  });
  r.get(`${base}/:sequenceId/enrollments`, requireCompanyAccess, async (req, res) => {
    const sequenceId = uuidParam(req, 'sequenceId');
    const q = parseQuery(EnrollmentsQuery, req);
    await view(companyOf(res), sequenceId);
    res.json(
      await listEnrollments(rt.db, companyOf(res), sequenceId, {
        status: q.status,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit,
      }),
    );
  });
  r.get(`${base}/:sequenceId/stats`, requireCompanyAccess, async (req, res) => {
    const sequenceId = uuidParam(req, 'sequenceId');
    await view(companyOf(res), sequenceId);
    res.json(await sequenceStats(rt.db, companyOf(res), sequenceId));
  });
  const enrollmentView = async (companyId: string, id: string) => {
    const e = await getEnrollment(rt.db, companyId, id);
    if (!e) throw notFound('enrollment not found');
    return e;
  };
  r.get(`${enrollments}/:enrollmentId`, requireCompanyAccess, async (req, res) => {
    res.json(await enrollmentView(companyOf(res), uuidParam(req, 'enrollmentId')));
  });
  r.get(`${enrollments}/:enrollmentId/history`, requireCompanyAccess, async (req, res) => {
    const enrollmentId = uuidParam(req, 'enrollmentId');
    res.json({ enrollmentId, events: await companyStreamHistory(rt.store, enrollmentStream(enrollmentId), companyOf(res), 'enrollment') });
  });
  r.post(`${enrollments}/:enrollmentId/stop`, requireCompanyAccess, async (req, res) => {
    const enrollmentId = uuidParam(req, 'enrollmentId');
    await enrollmentView(companyOf(res), enrollmentId);
    const { position } = await stopEnrollment(rt.store, enrollmentId, 'manual', actorOf(res), rt.now());
    await replyAfterWrite(rt, res, position, 200, () => enrollmentView(companyOf(res), enrollmentId));
  });
  return r;
}
