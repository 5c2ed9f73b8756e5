import type { ApprovalEvent } from '../domain/approval.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

export const approvalsProjection = defineProjection<ApprovalEvent>()({
  name: 'approvals',
  tables: ['crm_approvals'],
  eventTypes: ['ApprovalRequested', 'ApprovalGranted', 'ApprovalRejected'],
  async apply(events, { tx, table }) {
    const t = table('crm_approvals');
    for (const e of events) {
      if (e.type === 'ApprovalRequested') {
        const d = e.data;
        await tx.query(
          `INSERT INTO ${t} (id, company_id, activity_id, outbox_id, channel, recipient, rule_id, status, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (id) DO NOTHING`,
          [d.approvalId, d.companyId, d.activityId, d.outboxId, d.channel, d.to, d.ruleId, d.at],
        );
      } else {
        const status = e.type === 'ApprovalGranted' ? 'approved' : 'rejected';
        const reason = e.type === 'ApprovalRejected' ? e.data.reason : null;
        await tx.query(`UPDATE ${t} SET status = $2, decided_by = $3, reason = $4, decided_at = $5 WHERE id = $1`, [e.data.approvalId, status, e.data.by, reason, e.data.at]);
      }
    }
  },
});

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
  }>(
    `SELECT * FROM crm_approvals WHERE company_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at, id LIMIT 1000`,
    [companyId, status ?? null],
  );
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
  }));
}
