import type { ApprovalEvent } from '../domain/approval.js';
import type { Queryable } from '../sql/db.js';
import { type ProjectionContext, defineProjection } from './projection.js';

export const approvalsProjection = defineProjection<ApprovalEvent>()({
  name: 'approvals',
  tables: ['crm_approvals'],
  on: {
    ApprovalRequested: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_approvals')} (id, company_id, activity_id, outbox_id, channel, recipient, rule_id, status, created_at, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) ON CONFLICT (id) DO NOTHING`,
        [
          d.approvalId,
          d.companyId,
          d.activityId,
          d.outboxId,
          d.channel,
          d.to,
          d.ruleId,
          d.at,
          d.payload ? JSON.stringify(d.payload) : null,
        ],
      ),
    ApprovalGranted: ({ data: d }, ctx) => decide(ctx, d, 'approved', null),
    ApprovalRejected: ({ data: d }, ctx) => decide(ctx, d, 'rejected', d.reason),
  },
});

/** A decision, granted or rejected, recorded on the approval's row. */
function decide(
  { tx, table }: ProjectionContext,
  d: { approvalId: string; by: string; at: string },
  status: 'approved' | 'rejected',
  reason: string | null,
) {
  return tx.query(`UPDATE ${table('crm_approvals')} SET status = $2, decided_by = $3, reason = $4, decided_at = $5 WHERE id = $1`, [
    d.approvalId,
    status,
    d.by,
    reason,
    d.at,
  ]);
}

export async function listApprovals(q: Queryable, companyId: string, status: string | undefined) {
  const { rows } = await q.query<{
    id: string;
    activity_id: string;
    outbox_id: string;
    channel: string;
    recipient: string;
    rule_id: string | null;
    status: string;
    decided_by: string | null;
    reason: string | null;
    created_at: Date;
    decided_at: Date | null;
    payload: Record<string, unknown> | null;
  }>(`SELECT * FROM crm_approvals WHERE company_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at, id LIMIT 1000`, [
    companyId,
    status ?? null,
  ]);
  return rows.map((r) => ({
    id: r.id,
    activityId: r.activity_id,
    outboxId: r.outbox_id,
    channel: r.channel,
    to: r.recipient,
    ruleId: r.rule_id,
    status: r.status,
    decidedBy: r.decided_by,
    reason: r.reason,
    createdAt: r.created_at,
    decidedAt: r.decided_at,
    payload: r.payload,
  }));
}
