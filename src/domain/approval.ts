import { type Decider, type DomainEvent, DomainError } from './decider.js';

export const approvalStream = (approvalId: string) => `crm_approval-${approvalId}`;

export type ApprovalStatus = 'none' | 'pending' | 'approved' | 'rejected';

export type ApprovalEvent =
  | DomainEvent<
      'ApprovalRequested',
      {
        approvalId: string;
        activityId: string;
        companyId: string;
        outboxId: string;
        channel: string;
        to: string;
        ruleId: string | null;
        at: string;
        /**
         * The message as it would go (from the console's approvals page on: absent before), so that the list of
         * pending approvals shows what each would send without reading every activity's history.
         */
        payload?: Record<string, unknown>;
      }
    >
  | DomainEvent<'ApprovalGranted', { approvalId: string; by: string; at: string }>
  | DomainEvent<'ApprovalRejected', { approvalId: string; by: string; reason: string | null; at: string }>;

export type ApprovalCommand =
  | { type: 'RequestApproval'; data: Extract<ApprovalEvent, { type: 'ApprovalRequested' }>['data'] }
  | { type: 'GrantApproval'; companyId: string; by: string; now: string }
  | { type: 'RejectApproval'; companyId: string; by: string; reason: string | null; now: string };

export type ApprovalState = { status: ApprovalStatus; approvalId: string | null; companyId: string | null; activityId: string | null };

export const approvalDecider: Decider<ApprovalCommand, ApprovalState, ApprovalEvent> = {
  initialState: () => ({ status: 'none', approvalId: null, companyId: null, activityId: null }),
  evolve(state, event) {
    switch (event.type) {
      case 'ApprovalRequested':
        return { status: 'pending', approvalId: event.data.approvalId, companyId: event.data.companyId, activityId: event.data.activityId };
      case 'ApprovalGranted':
        return { ...state, status: 'approved' };
      case 'ApprovalRejected':
        return { ...state, status: 'rejected' };
    }
  },
  decide(command, state) {
    if (command.type === 'RequestApproval') {
      if (state.status !== 'none') throw new DomainError('conflict', 'approval id already used');
      return [{ type: 'ApprovalRequested', data: command.data }];
    }
    if (state.status === 'none' || state.companyId !== command.companyId) throw new DomainError('not_found', 'approval not found');
    if (state.status !== 'pending') throw new DomainError('conflict', `approval is ${state.status}, not pending`);
    const approvalId = state.approvalId!;
    return command.type === 'GrantApproval'
      ? [{ type: 'ApprovalGranted', data: { approvalId, by: command.by, at: command.now } }]
      : [{ type: 'ApprovalRejected', data: { approvalId, by: command.by, reason: command.reason, at: command.now } }];
  },
};
