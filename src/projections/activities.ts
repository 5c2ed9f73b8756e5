import type { ActivityEvent } from '../domain/activity.js';
import type { Queryable } from '../sql/db.js';
import type { Projection } from './projection.js';

/** crm_activities: one row per send, its status following the activity's events. */
export const activitiesProjection: Projection = {
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
  ],
  async apply(events, { tx, table }) {
    const t = table('crm_activities');
    const set = (id: string, at: string, assignments: string, values: unknown[]) =>
      tx.query(`UPDATE ${t} SET ${assignments}, updated_at = $2 WHERE id = $1`, [id, at, ...values]);
    for (const e of events as unknown as ActivityEvent[]) {
      switch (e.type) {
        case 'ActivityRequested':
          await tx.query(
            `INSERT INTO ${t} (id, company_id, outbox_id, channel, recipient, status, content_piece_id, client_dedup_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING`,
            [e.data.activityId, e.data.companyId, e.data.outboxId, e.data.channel, e.data.to, e.data.contentPieceId, e.data.clientDedupKey, e.data.requestedAt],
          );
          break;
        case 'ActivityBlocked':
          await set(e.data.activityId, e.data.at, `status = $3, error = $4`, [e.data.status, JSON.stringify({ code: e.data.reason, message: `blocked: ${e.data.reason}` })]);
          break;
        case 'ActivitySentDryRun':
          await set(e.data.activityId, e.data.at, `status = 'sent_dryrun'`, []);
          break;
        case 'ActivityQueuedForApproval':
          await set(e.data.activityId, e.data.at, `status = 'draft_pending_approval', approval_id = $3`, [e.data.approvalId]);
          break;
        case 'ActivityApproved':
          await set(e.data.activityId, e.data.at, `status = 'approved'`, []);
          break;
        case 'ActivityRejected':
          await set(e.data.activityId, e.data.at, `status = 'rejected'`, []);
          break;
        case 'ActivityDispatching':
          await set(e.data.activityId, e.data.at, `status = 'dispatching', bucket = $3, lease_until = $4`, [e.data.bucket, e.data.leaseUntil]);
          break;
        case 'ActivitySent':
          await set(e.data.activityId, e.data.at, `status = 'sent', provider_message_id = $3`, [e.data.providerMessageId]);
          break;
        case 'ActivityFailed':
          await set(e.data.activityId, e.data.at, `status = 'failed', error = $3`, [JSON.stringify(e.data.error)]);
          break;
      }
    }
  },
};

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
  created_at: Date;
  updated_at: Date;
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
  after?: { createdAt: Date; id: string };
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
  if (f.after) {
    params.push(f.after.createdAt, f.after.id);
    where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
  }
  params.push(f.limit + 1);
  const { rows } = await q.query<Row>(`SELECT * FROM crm_activities WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`, params);
  const page = rows.slice(0, f.limit);
  const last = page.at(-1);
  return {
    items: page.map(activityView),
    nextCursor: rows.length > f.limit && last ? Buffer.from(JSON.stringify([last.created_at.toISOString(), last.id])).toString('base64url') : null,
  };
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
