import type { EnrollmentEvent } from '../domain/enrollment.js';
import type { Queryable } from '../sql/db.js';
import { afterCursor, keysetPage } from './keyset-page.js';
import { type Handlers, type ProjectionContext, type RecordedOf, defineProjection, runsOfOneType } from './projection.js';

/** `steps` with the entry of the send `activityId` replaced by `step` (one entry per send, as the decider keeps them). */
const withStep = (steps: string, activityId: string, step: string) =>
  `(SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM jsonb_array_elements(${steps}) x WHERE x->>'activityId' <> ${activityId}) || jsonb_build_array(${step})`;
const WITH_STEP = withStep('steps', '$2::text', '$3::jsonb');

const step = (d: { index: number; activityId: string; at: string }, status: string) =>
  JSON.stringify({ index: d.index, activityId: d.activityId, status, at: d.at });

type Of<T extends EnrollmentEvent['type']> = RecordedOf<Extract<EnrollmentEvent, { type: T }>>;

/**
 * The two events a scheduler pass or an enrollment call writes by the thousand, each run written with one
 * statement (a statement per event was a third of a step's database work).
 */
const setBased: { [T in EnrollmentEvent['type']]?: (run: Of<T>[], ctx: ProjectionContext) => Promise<unknown> } = {
  EnrollmentStarted: (run, { tx, table }) =>
    tx.query(
      `INSERT INTO ${table('crm_enrollments')} (id, company_id, sequence_id, version, recipient, status, current_step, attempt, next_due_at, steps, stop_on, channels, created_at, updated_at)
       SELECT id, company_id, sequence_id, version, recipient, 'active', 0, 0, next_due_at, '[]'::jsonb, stop_on, channels, at, at
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::jsonb[], $9::timestamptz[])
              AS u(id, company_id, sequence_id, version, recipient, next_due_at, stop_on, channels, at)
       ON CONFLICT (id) DO NOTHING`,
      [
        run.map((e) => e.data.enrollmentId),
        run.map((e) => e.data.companyId),
        run.map((e) => e.data.sequenceId),
        run.map((e) => e.data.definition.version),
        run.map((e) => e.data.to),
        run.map((e) => e.data.dueAt),
        run.map((e) => JSON.stringify(e.data.definition.stopOn)),
        run.map((e) => JSON.stringify(e.data.definition.steps.map((s) => s.channel ?? null))),
        run.map((e) => e.data.at),
      ],
    ),
  EnrollmentStepSent: (run, { tx, table }) =>
    tx.query(
      `UPDATE ${table('crm_enrollments')} AS e SET steps = ${withStep('e.steps', 'u.activity_id', 'u.step')}, status = 'active',
              current_step = u.current_step, attempt = 0, next_due_at = u.next_due_at, waiting_for = NULL, updated_at = u.at
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::int[], $5::timestamptz[], $6::timestamptz[])
              AS u(id, activity_id, step, current_step, next_due_at, at)
        WHERE e.id = u.id`,
      [
        run.map((e) => e.data.enrollmentId),
        run.map((e) => e.data.activityId),
        run.map((e) => step(e.data, e.data.status)),
        run.map((e) => e.data.index + 1),
        run.map((e) => e.data.nextDueAt),
        run.map((e) => e.data.at),
      ],
    ),
};

const oneAtATime: Handlers<EnrollmentEvent> = {
  EnrollmentWaitingApproval: ({ data: d }, { tx, table }) =>
    tx.query(
      `UPDATE ${table('crm_enrollments')} SET steps = ${WITH_STEP}, status = 'waiting_approval', next_due_at = NULL, waiting_for = $2::uuid,
         updated_at = $4 WHERE id = $1`,
      [d.enrollmentId, d.activityId, step(d, 'draft_pending_approval'), d.at],
    ),
  EnrollmentStepDeferred: ({ data: d }, { tx, table }) =>
    tx.query(
      `UPDATE ${table('crm_enrollments')} SET steps = ${WITH_STEP}, status = 'active', waiting_for = NULL, attempt = $4, next_due_at = $5, updated_at = $6 WHERE id = $1`,
      [d.enrollmentId, d.activityId, step(d, 'blocked_by_quota'), d.attempt, d.retryAt, d.at],
    ),
  EnrollmentStepRescheduled: ({ data: d }, { tx, table }) =>
    tx.query(`UPDATE ${table('crm_enrollments')} SET next_due_at = $2, updated_at = $3 WHERE id = $1`, [d.enrollmentId, d.nextDueAt, d.at]),
  EnrollmentCompleted: ({ data: d }, { tx, table }) =>
    tx.query(`UPDATE ${table('crm_enrollments')} SET status = 'completed', next_due_at = NULL, updated_at = $2 WHERE id = $1`, [
      d.enrollmentId,
      d.at,
    ]),
  EnrollmentStopped: ({ data: d }, { tx, table }) =>
    d.activityId !== null && d.index !== null
      ? tx.query(
          `UPDATE ${table('crm_enrollments')} SET steps = ${WITH_STEP}, status = 'stopped', next_due_at = NULL, waiting_for = NULL, stop_reason = $4, updated_at = $5 WHERE id = $1`,
          [
            d.enrollmentId,
            d.activityId,
            step({ index: d.index, activityId: d.activityId, at: d.at }, stepStatusOnStop(d.reason)),
            d.reason,
            d.at,
          ],
        )
      : tx.query(
          `UPDATE ${table('crm_enrollments')} SET status = 'stopped', next_due_at = NULL, waiting_for = NULL, stop_reason = $2, updated_at = $3 WHERE id = $1`,
          [d.enrollmentId, d.reason, d.at],
        ),
  EnrollmentReplied: ({ data: d }, { tx, table }) =>
    tx.query(`UPDATE ${table('crm_enrollments')} SET replied = true, updated_at = $2 WHERE id = $1`, [d.enrollmentId, d.at]),
};

export const enrollmentsProjection = defineProjection<EnrollmentEvent>()({
  name: 'enrollments',
  tables: ['crm_enrollments'],
  eventTypes: [
    'EnrollmentStarted',
    'EnrollmentStepSent',
    'EnrollmentWaitingApproval',
    'EnrollmentStepDeferred',
    'EnrollmentStepRescheduled',
    'EnrollmentCompleted',
    'EnrollmentStopped',
    'EnrollmentReplied',
  ],
  async apply(events, ctx) {
    for (const run of runsOfOneType(events, (e) => e.data.enrollmentId)) {
      const type = run[0]!.type;
      const many = setBased[type] as ((run: RecordedOf<EnrollmentEvent>[], ctx: ProjectionContext) => Promise<unknown>) | undefined;
      if (many) await many(run, ctx);
      else
        for (const e of run)
          await (oneAtATime[type] as (e: RecordedOf<EnrollmentEvent>, ctx: ProjectionContext) => Promise<unknown>)(e, ctx);
    }
  },
});

/** As `enrollmentDecider` shows a step its enrollment stopped on. */
function stepStatusOnStop(reason: string) {
  return reason === 'step_failed' ? 'failed' : reason === 'rejected' ? 'rejected' : 'blocked_by_allowlist';
}

interface Row {
  id: string;
  sequence_id: string;
  version: number;
  recipient: string;
  status: string;
  sequence_status: string;
  current_step: number;
  next_due_at: Date | null;
  steps: unknown[];
  stop_reason: string | null;
  replied: boolean;
  created_at: Date;
  updated_at: Date;
}

/** An enrollment of a paused sequence shows as paused while it would otherwise run. */
const view = (r: Row) => ({
  id: r.id,
  sequenceId: r.sequence_id,
  version: r.version,
  to: r.recipient,
  status: r.sequence_status === 'paused' && (r.status === 'active' || r.status === 'waiting_approval') ? 'paused' : r.status,
  currentStep: r.current_step,
  nextDueAt: r.next_due_at,
  steps: r.steps,
  stopReason: r.stop_reason,
  replied: r.replied,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type EnrollmentView = ReturnType<typeof view>;

const SELECT = `SELECT e.id, e.sequence_id, e.version, e.recipient, e.status, s.status AS sequence_status, e.current_step, e.next_due_at, e.steps,
  e.stop_reason, e.replied, e.created_at, e.updated_at FROM crm_enrollments e JOIN crm_sequences s ON s.id = e.sequence_id`;

export async function getEnrollment(q: Queryable, companyId: string, enrollmentId: string): Promise<EnrollmentView | null> {
  const { rows } = await q.query<Row>(`${SELECT} WHERE e.company_id = $1 AND e.id = $2`, [companyId, enrollmentId]);
  return rows[0] ? view(rows[0]) : null;
}

export async function listEnrollments(
  q: Queryable,
  companyId: string,
  sequenceId: string,
  filter: { status?: string; after?: { createdAt: Date; id: string }; limit: number },
) {
  const params: unknown[] = [companyId, sequenceId];
  const where = ['e.company_id = $1', 'e.sequence_id = $2'];
  if (filter.status === 'paused') where.push(`s.status = 'paused' AND e.status IN ('active', 'waiting_approval')`);
  else if (filter.status) {
    params.push(filter.status);
    where.push(`e.status = $${params.length}`);
    if (filter.status === 'active' || filter.status === 'waiting_approval') where.push(`s.status <> 'paused'`);
  }
  if (filter.after) where.push(afterCursor(params, filter.after, 'asc', 'e'));
  params.push(filter.limit + 1);
  const { rows } = await q.query<Row>(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY e.created_at, e.id LIMIT $${params.length}`, params);
  return keysetPage(rows, filter.limit, view);
}

/** The enrollments whose next step is due, of sequences that run, soonest first (the scheduler's scan). */
export async function dueEnrollments(q: Queryable, now: Date, limit: number): Promise<{ id: string; sequenceId: string }[]> {
  const { rows } = await q.query<{ id: string; sequenceId: string }>(
    `SELECT e.id, e.sequence_id AS "sequenceId" FROM crm_enrollments e JOIN crm_sequences s ON s.id = e.sequence_id
      WHERE e.status = 'active' AND e.next_due_at <= $1 AND s.status = 'active' ORDER BY e.next_due_at LIMIT $2`,
    [now, limit],
  );
  return rows;
}

/** Enrollments waiting for a person whose send was decided since (approved and sent, or rejected). */
export async function decidedApprovals(q: Queryable, limit: number): Promise<{ id: string }[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT e.id FROM crm_enrollments e JOIN crm_activities a ON a.id = e.waiting_for
      WHERE e.status = 'waiting_approval' AND a.status NOT IN ('requested', 'approved', 'dispatching', 'draft_pending_approval') LIMIT $1`,
    [limit],
  );
  return rows;
}

/** The active enrollment of a recipient in a sequence, if any (an enrollment call answers `already_enrolled`). */
export async function activeEnrollmentOf(q: Queryable, sequenceId: string, recipient: string): Promise<string | null> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM crm_enrollments WHERE sequence_id = $1 AND recipient = $2 AND status IN ('active', 'waiting_approval') LIMIT 1`,
    [sequenceId, recipient],
  );
  return rows[0]?.id ?? null;
}

/**
 * Running enrollments (and completed ones not yet marked replied) with a cause to stop that their version stops
 * on: a reply to, a bounce or complaint of, or a booking from one of their sends; a message from the recipient
 * on any channel, a booking they made or a bounce of mail to them since the enrollment began (their contact
 * streams: crm_contact_signals); or the recipient suppressed on the current step's channel or on all. Also
 * those of a deleted sequence (`sequence_deleted`).
 */
export async function enrollmentsToStop(q: Queryable, limit: number): Promise<{ id: string; cause: string }[]> {
  const { rows } = await q.query<{ id: string; cause: string }>(
    `SELECT id, cause FROM (
       SELECT e.id, CASE WHEN d.kind = 'reply' THEN 'reply' WHEN d.state IN ('bounced', 'complained') THEN 'bounce' ELSE 'booking' END AS cause,
              e.status, e.stop_on
         FROM crm_enrollments e
         CROSS JOIN LATERAL jsonb_array_elements(e.steps) st
         JOIN crm_activity_delivery_events d ON d.activity_id = (st->>'activityId')::uuid
        WHERE (e.status IN ('active', 'waiting_approval') OR (e.status = 'completed' AND NOT e.replied))
          AND (d.kind = 'reply' OR d.state IN ('bounced', 'complained', 'booking_created'))
       UNION
       SELECT e.id, c.kind, e.status, e.stop_on FROM crm_enrollments e
         JOIN crm_contact_signals c ON c.company_id = e.company_id AND c.recipient = e.recipient AND c.at >= e.created_at
        WHERE e.status IN ('active', 'waiting_approval') OR (e.status = 'completed' AND NOT e.replied)
       UNION
       -- A suppression on one channel stops a step on that channel (one of unknown channel too: it can only stop more).
       SELECT e.id, 'unsubscribe', e.status, e.stop_on FROM crm_enrollments e
         JOIN crm_suppressions s ON s.company_id = e.company_id AND s.recipient = lower(e.recipient)
        WHERE e.status IN ('active', 'waiting_approval')
          AND (s.channel IS NULL OR e.channels->>e.current_step IS NULL OR s.channel = e.channels->>e.current_step)
       UNION
       SELECT e.id, 'sequence_deleted', e.status, '["sequence_deleted"]'::jsonb FROM crm_enrollments e JOIN crm_sequences q ON q.id = e.sequence_id
        WHERE q.status = 'deleted' AND e.status IN ('active', 'waiting_approval')
     ) c
     WHERE c.stop_on ? c.cause AND (c.status <> 'completed' OR c.cause = 'reply')
     LIMIT $1`,
    [limit],
  );
  return rows;
}

/** A sequence's figures: its enrollments by status and stop reason, and per step what its sends ended in. */
export async function sequenceStats(q: Queryable, companyId: string, sequenceId: string) {
  const [statuses, reasons, steps] = await Promise.all([
    q.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM crm_enrollments WHERE company_id = $1 AND sequence_id = $2 GROUP BY status`,
      [companyId, sequenceId],
    ),
    q.query<{ reason: string; n: number }>(
      `SELECT stop_reason AS reason, count(*)::int AS n FROM crm_enrollments WHERE company_id = $1 AND sequence_id = $2 AND status = 'stopped' GROUP BY stop_reason`,
      [companyId, sequenceId],
    ),
    q.query<{ index: number; status: string; n: number; replied: number }>(
      `SELECT (st->>'index')::int AS index, st->>'status' AS status, count(*)::int AS n,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM crm_activity_delivery_events d WHERE d.activity_id = (st->>'activityId')::uuid AND d.kind = 'reply'))::int AS replied
         FROM crm_enrollments e CROSS JOIN LATERAL jsonb_array_elements(e.steps) st
        WHERE e.company_id = $1 AND e.sequence_id = $2 GROUP BY 1, 2 ORDER BY 1`,
      [companyId, sequenceId],
    ),
  ]);
  const count = (s: string) => statuses.rows.find((r) => r.status === s)?.n ?? 0;
  const perStep = new Map<
    number,
    { index: number; sent: number; pendingApproval: number; blocked: number; failed: number; replied: number }
  >();
  for (const r of steps.rows) {
    const s = perStep.get(r.index) ?? { index: r.index, sent: 0, pendingApproval: 0, blocked: 0, failed: 0, replied: 0 };
    if (r.status === 'sent' || r.status === 'sent_dryrun') s.sent += r.n;
    else if (r.status === 'draft_pending_approval') s.pendingApproval += r.n;
    else if (r.status === 'blocked_by_allowlist' || r.status === 'blocked_by_quota') s.blocked += r.n;
    else s.failed += r.n;
    s.replied += r.replied;
    perStep.set(r.index, s);
  }
  return {
    enrolled: statuses.rows.reduce((n, r) => n + r.n, 0),
    active: count('active') + count('waiting_approval'),
    completed: count('completed'),
    stopped: Object.fromEntries(reasons.rows.map((r) => [r.reason, r.n])),
    steps: [...perStep.values()],
  };
}
