import type { ActivityEvent, QuotaBlock } from '../domain/activity.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';
import { afterCursor, type KeysetCursor, keysetPage } from './keyset-page.js';

/** crm_activities: one row per send, its status following the activity's events. */
export const activitiesProjection = defineProjection<ActivityEvent>()({
  name: 'activities',
  tables: ['crm_activities'],
  eventTypes: [
    'ActivityRequested',
    'ActivityBlocked',
    'ActivitySentDryRun',
    'ActivityQueuedForApproval',
    'ActivityApproved',
    'ActivityRejected',
    'ActivityDispatching',
    'ActivitySent',
    'ActivityFailed',
    'ActivityResendDecided',
  ],
  async apply(events, { tx, table }) {
    const t = table('crm_activities');
    // A batch holds several events of one send (a send's first append alone is three): each activity's events
    // are folded in memory, and the batch is written with one INSERT for new activities and one UPDATE for
    // the others, instead of a statement per event.
    const created = new Map<string, Patch & { request: Extract<ActivityEvent, { type: 'ActivityRequested' }>['data'] }>();
    const changed = new Map<string, Patch>();
    for (const e of events) {
      if (e.type === 'ActivityRequested') {
        if (!created.has(e.data.activityId))
          created.set(e.data.activityId, { request: e.data, status: 'requested', at: e.data.requestedAt });
        continue;
      }
      const id = e.data.activityId;
      const p: Patch = created.get(id) ?? changed.get(id) ?? { at: '' };
      p.at = e.data.at;
      switch (e.type) {
        case 'ActivityBlocked':
          Object.assign(p, { status: e.data.status, error: blockError(e.data) });
          break;
        case 'ActivitySentDryRun':
          p.status = 'sent_dryrun';
          break;
        case 'ActivityQueuedForApproval':
          Object.assign(p, { status: 'draft_pending_approval', approvalId: e.data.approvalId });
          break;
        case 'ActivityApproved':
          p.status = 'approved';
          break;
        case 'ActivityRejected':
          p.status = 'rejected';
          break;
        case 'ActivityDispatching':
          Object.assign(p, { status: 'dispatching', bucket: e.data.bucket, leaseUntil: e.data.leaseUntil });
          break;
        case 'ActivitySent':
          Object.assign(p, { status: 'sent', providerMessageId: e.data.providerMessageId });
          break;
        case 'ActivityFailed':
          Object.assign(p, { status: 'failed', error: e.data.error });
          break;
        // The original stays failed: only the link is new.
        case 'ActivityResendDecided':
          p.resentAs = e.data.resentAs;
          break;
      }
      if (!created.has(id)) changed.set(id, p);
    }
    const patchColumns = (ps: Patch[]) => [
      ps.map((p) => p.status ?? null),
      ps.map((p) => p.at),
      ps.map((p) => p.approvalId ?? null),
      ps.map((p) => p.bucket ?? null),
      ps.map((p) => p.leaseUntil ?? null),
      ps.map((p) => p.providerMessageId ?? null),
      ps.map((p) => (p.error ? JSON.stringify(p.error) : null)),
      ps.map((p) => p.resentAs ?? null),
    ];
    if (created.size > 0) {
      const ps = [...created.values()];
      // Replayed batches find their rows: the row is then brought to the batch's end state.
      await tx.query(
        `INSERT INTO ${t} AS a (id, company_id, outbox_id, channel, recipient, content_piece_id, client_dedup_key, created_at,
                                status, updated_at, approval_id, bucket, lease_until, provider_message_id, error, resent_as, resend_of)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::timestamptz[],
                              $9::text[], $10::timestamptz[], $11::uuid[], $12::text[], $13::timestamptz[], $14::text[], $15::jsonb[], $16::uuid[],
                              $17::uuid[])
         ON CONFLICT (id) DO UPDATE SET ${UPDATE_SET('excluded')}`,
        [
          ps.map((p) => p.request.activityId),
          ps.map((p) => p.request.companyId),
          ps.map((p) => p.request.outboxId),
          ps.map((p) => p.request.channel),
          ps.map((p) => p.request.to),
          ps.map((p) => p.request.contentPieceId),
          ps.map((p) => p.request.clientDedupKey),
          ps.map((p) => p.request.requestedAt),
          ...patchColumns(ps),
          ps.map((p) => p.request.resendOf ?? null),
        ],
      );
    }
    if (changed.size > 0) {
      const ids = [...changed.keys()];
      await tx.query(
        `UPDATE ${t} AS a SET ${UPDATE_SET('u')}
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[], $6::timestamptz[], $7::text[], $8::jsonb[], $9::uuid[])
                AS u(id, status, updated_at, approval_id, bucket, lease_until, provider_message_id, error, resent_as)
          WHERE a.id = u.id`,
        [ids, ...patchColumns([...changed.values()])],
      );
    }
  },
});

/** What a batch changes on one activity; a field left out keeps its value. */
interface Patch {
  /** Absent when the batch changes only a link (a resend decided on a failed send). */
  status?: string;
  at: string;
  approvalId?: string;
  bucket?: string;
  leaseUntil?: string;
  providerMessageId?: string | null;
  error?: { code: string; message: string };
  resentAs?: string;
}

const UPDATE_SET = (from: string) =>
  `status = coalesce(${from}.status, a.status), updated_at = ${from}.updated_at,
   approval_id = coalesce(${from}.approval_id, a.approval_id), bucket = coalesce(${from}.bucket, a.bucket),
   lease_until = coalesce(${from}.lease_until, a.lease_until),
   provider_message_id = coalesce(${from}.provider_message_id, a.provider_message_id), error = coalesce(${from}.error, a.error),
   resent_as = coalesce(${from}.resent_as, a.resent_as)`;

interface Row {
  id: string;
  outbox_id: string;
  channel: string;
  recipient: string;
  status: string;
  approval_id: string | null;
  content_piece_id: string | null;
  client_dedup_key: string | null;
  provider_message_id: string | null;
  error: { code: string; message: string } | null;
  resend_of: string | null;
  resent_as: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A block as the activity's error: its reason, and on a quota block the limit that refused it and when it reopens. */
function blockError(d: { reason: string; quota?: QuotaBlock }) {
  if (!d.quota) return { code: d.reason, message: `blocked: ${d.reason}` };
  const { limit, retryAt } = d.quota;
  return {
    code: d.reason,
    message: `blocked: ${d.reason} (${limit.max} ${limit.unit} per ${limit.per}); reopens at ${retryAt}`,
    limit,
    retryAt,
  };
}

export const activityView = (r: Row) => ({
  id: r.id,
  status: r.status,
  channel: r.channel,
  outboxId: r.outbox_id,
  to: r.recipient,
  approvalId: r.approval_id,
  contentPieceId: r.content_piece_id,
  clientDedupKey: r.client_dedup_key,
  providerMessageId: r.provider_message_id,
  // Why a send was blocked (`not_allowlisted`, `suppressed`, `daily_cap_reached`), at the top level so a client
  // need not know that the block is recorded as an error code.
  reason: r.status === 'blocked_by_allowlist' || r.status === 'blocked_by_quota' ? (r.error?.code ?? null) : null,
  error: r.error,
  // A person's resend after an unknown outcome: the activity this one resends, and the one it was resent as.
  resendOf: r.resend_of,
  resentAs: r.resent_as,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface ActivityFilter {
  status?: string;
  channel?: string;
  outboxId?: string;
  since?: Date;
  until?: Date;
  /** Keyset cursor: the (createdAt, id) of the last row of the previous page. */
  after?: KeysetCursor;
  limit: number;
}

export async function listActivities(q: Queryable, companyId: string, f: ActivityFilter) {
  const params: unknown[] = [companyId];
  const where = ['company_id = $1'];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (f.status) add('status = ?', f.status);
  if (f.channel) add('channel = ?', f.channel);
  if (f.outboxId) add('outbox_id = ?', f.outboxId);
  if (f.since) add('created_at >= ?', f.since);
  if (f.until) add('created_at < ?', f.until);
  if (f.after) where.push(afterCursor(params, f.after, 'desc'));
  params.push(f.limit + 1);
  const { rows } = await q.query<Row>(
    `SELECT * FROM crm_activities WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return keysetPage(rows, f.limit, activityView);
}

export async function getActivity(q: Queryable, companyId: string, id: string) {
  const { rows } = await q.query<Row>(`SELECT * FROM crm_activities WHERE company_id = $1 AND id = $2`, [companyId, id]);
  return rows[0] ? activityView(rows[0]) : null;
}

/** Activities left between reservation and outcome longer than the lease (a crash): the reconciler's work. */
export async function unsettledActivities(q: Queryable, olderThan: Date, limit = 100) {
  const { rows } = await q.query<{ id: string; company_id: string }>(
    `SELECT id, company_id FROM crm_activities WHERE status IN ('requested', 'approved', 'dispatching') AND updated_at < $1 ORDER BY updated_at LIMIT $2`,
    [olderThan, limit],
  );
  return rows;
}
