import type { ApprovalRulesEvent } from '../domain/approval-rules.js';
import type { Queryable } from '../sql/db.js';
import { updateChangedColumns } from './apply-changes.js';
import { defineProjection } from './projection.js';

const COLUMN = { predicate: 'predicate', action: 'action', priority: 'priority' } as const;

export const approvalRulesProjection = defineProjection<ApprovalRulesEvent>()({
  name: 'approval_rules',
  tables: ['crm_approval_rules'],
  on: {
    ApprovalRuleAdded: ({ data: { companyId, rule: r } }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_approval_rules')} (id, company_id, predicate, action, priority, seq, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING`,
        [r.ruleId, companyId, JSON.stringify(r.predicate), r.action, r.priority, r.seq, r.createdAt],
      ),
    ApprovalRuleUpdated: ({ data: d }, { tx, table }) =>
      updateChangedColumns(tx, table('crm_approval_rules'), d.ruleId, d.updatedAt, d.changes, COLUMN, ['predicate']),
    ApprovalRuleDeleted: (e, { tx, table }) => tx.query(`DELETE FROM ${table('crm_approval_rules')} WHERE id = $1`, [e.data.ruleId]),
  },
});

/** Rows in evaluation order: ascending priority, ties oldest first. */
export async function listApprovalRules(q: Queryable, companyId: string) {
  const { rows } = await q.query<{
    id: string;
    predicate: Record<string, unknown>;
    action: string;
    priority: number;
    created_at: Date;
    updated_at: Date;
  }>(
    `SELECT id, predicate, action, priority, created_at, updated_at FROM crm_approval_rules WHERE company_id = $1 ORDER BY priority, seq`,
    [companyId],
  );
  return rows.map((r) => ({
    id: r.id,
    predicate: r.predicate,
    action: r.action,
    priority: r.priority,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}
