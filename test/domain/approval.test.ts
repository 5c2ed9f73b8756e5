import { describe, it } from 'vitest';
import { type ApprovalCommand, type ApprovalEvent, approvalDecider } from '../../src/domain/approval.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-12-02T10:00:00.000Z';
const later = '2026-12-02T11:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';
const otherCompany = '6f1f3c1e-0000-4000-8000-00000000000b';
const approvalId = '6f1f3c1e-0000-4000-8000-0000000000c1';
const activityId = '6f1f3c1e-0000-4000-8000-0000000000d1';

const request = {
  approvalId,
  activityId,
  companyId,
  outboxId: 'o1',
  channel: 'email',
  to: 'ana@example.org',
  ruleId: 'r1',
  at: now,
};
const requested: ApprovalEvent = { type: 'ApprovalRequested', data: request };
const grant = (company = companyId): ApprovalCommand => ({ type: 'GrantApproval', companyId: company, by: 'board:u', now: later });
const reject = (company = companyId, reason: string | null = 'off brand'): ApprovalCommand => ({
  type: 'RejectApproval',
  companyId: company,
  by: 'board:u',
  reason,
  now: later,
});
const granted: ApprovalEvent = { type: 'ApprovalGranted', data: { approvalId, by: 'board:u', at: later } };
const rejected = (reason: string | null = 'off brand'): ApprovalEvent => ({
  type: 'ApprovalRejected',
  data: { approvalId, by: 'board:u', reason, at: later },
});

describe('approval decider', () => {
  const s = spec(approvalDecider);

  it('requests an approval with what the person deciding is shown', () => {
    s.given([]).when({ type: 'RequestApproval', data: request }).then([requested]);
    // Queued by no rule (the default when none matched).
    s.given([])
      .when({ type: 'RequestApproval', data: { ...request, ruleId: null } })
      .then([{ type: 'ApprovalRequested', data: { ...request, ruleId: null } }]);
  });

  it('never requests twice under one id, whatever the approval came to', () => {
    for (const history of [[requested], [requested, granted], [requested, rejected()]]) {
      s.given(history).when({ type: 'RequestApproval', data: request }).thenThrows('conflict');
    }
  });

  it('grants a pending approval', () => {
    s.given([requested]).when(grant()).then([granted]);
  });

  it('rejects a pending approval, with or without a reason', () => {
    s.given([requested]).when(reject()).then([rejected()]);
    s.given([requested])
      .when(reject(companyId, null))
      .then([rejected(null)]);
  });

  it('decides once: a decided approval is neither granted nor rejected again (409)', () => {
    s.given([requested, granted]).when(grant()).thenThrows('conflict');
    s.given([requested, granted]).when(reject()).thenThrows('conflict');
    s.given([requested, rejected()]).when(reject()).thenThrows('conflict');
    s.given([requested, rejected()]).when(grant()).thenThrows('conflict');
  });

  it('knows no approval never requested, nor another company’s, decided or not (404)', () => {
    s.given([]).when(grant()).thenThrows('not_found');
    s.given([]).when(reject()).thenThrows('not_found');
    s.given([requested]).when(grant(otherCompany)).thenThrows('not_found');
    s.given([requested]).when(reject(otherCompany)).thenThrows('not_found');
    // Another company is not told that the approval was decided.
    s.given([requested, granted]).when(grant(otherCompany)).thenThrows('not_found');
  });
});
