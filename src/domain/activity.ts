import type { SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';
import { derivedUuid } from './derived-id.js';
import type { QuotaLimit } from './quota-limits.js';

/** One stream per send attempt: its whole decision history, for audit. */
export const activityStream = (activityId: string) => `crm_activity-${activityId}`;

/** Which quota limit refused a send, and the instant it takes one more (ISO). */
export interface QuotaBlock {
  limit: QuotaLimit;
  retryAt: string;
}

/** What a send ends in (or waits in, for a human). */
export type FinalStatus =
  'draft_pending_approval' | 'sent' | 'sent_dryrun' | 'blocked_by_allowlist' | 'blocked_by_quota' | 'failed' | 'rejected';
export type ActivityStatus = 'none' | 'requested' | 'approved' | 'dispatching' | FinalStatus;

/** Statuses a send can be answered with: settled, or waiting for a human. */
export const ANSWERABLE: ReadonlySet<ActivityStatus> = new Set<ActivityStatus>([
  'draft_pending_approval',
  'sent',
  'sent_dryrun',
  'blocked_by_allowlist',
  'blocked_by_quota',
  'failed',
  'rejected',
]);

export interface ActivityError {
  code: string;
  message: string;
  /** What the provider answered, when its words tell more than the code (an SMTP reply): redacted of credentials, truncated. */
  providerReply?: string;
  /** The RFC 3463 enhanced status code of an SMTP reply (`5.1.1`): which of several refusals one reply code covers. */
  enhancedStatus?: string;
  /** The provider's short title of the error, when it gives one besides its message (Meta's `title`). */
  title?: string;
  /** The provider's longer explanation (Meta's `error_data.details`): often the only words that say what to fix. */
  details?: string;
}

/**
 * What a person picked when their reply is a tap rather than words: a WhatsApp reply button or list row
 * (`interactive.button_reply` / `list_reply`), or a template's quick-reply button (`button`). The id is what the
 * business set on the button, so a sequence or a person can act on the choice without parsing the title.
 */
export interface ReplyChoice {
  kind: 'button' | 'list' | 'quick_reply';
  id: string;
  title: string;
  description?: string;
}

/** What a provider reported about a sent message after the send (delivery receipts, bounces, bookings). */
export const DELIVERY_STATES = [
  'sent',
  'delivered',
  'read',
  'failed',
  'bounced',
  'complained',
  'accepted',
  'booking_created',
  'booking_rescheduled',
  'booking_cancelled',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface ActivityRequest {
  activityId: string;
  companyId: string;
  outboxId: string;
  channel: SendChannel;
  outboxChannel: string;
  /** Canonical (src/domain/recipients.ts): what the checks saw and the adapter gets. */
  to: string;
  /**
   * The recipient's other keys, as the provider resolved them when the send was requested (LinkedIn: the
   * profile of the member `to` is the id of). Absent on a send whose recipient was not resolved.
   */
  recipientAliases?: string[];
  payload: Record<string, unknown>;
  contentPieceId: string | null;
  niche: string | null;
  tags: string[];
  clientDedupKey: string | null;
  /** SHA-256 of the request as sent: a repeated dedup key with another request is refused. */
  requestHash: string;
  requestedBy: string;
  requestedAt: string;
  /** The activity this one resends (a person's decision after an unknown outcome); absent on every other send. */
  resendOf?: string | null;
}

/**
 * The one activity a resend of `activityId` may create: derived from the original's id, so that concurrent or
 * repeated resends (and a later call completing one a crash cut short) all name the same stream.
 */
export const resendActivityId = (activityId: string) => derivedUuid('crm.activity.resend', activityId);

/**
 * Failures after which nobody knows whether the recipient got the message: the dispatch was cut short
 * (`dispatch_interrupted`) or the provider went silent after taking the request (`<channel>_outcome_unknown`).
 * Only those may be resent by a person; any other failure is a known outcome.
 */
export function isUnknownOutcome(error: ActivityError | null): boolean {
  return !!error && (error.code === 'dispatch_interrupted' || error.code.endsWith('_outcome_unknown'));
}

export type ActivityEvent =
  | DomainEvent<'ActivityRequested', ActivityRequest & Record<string, unknown>>
  | DomainEvent<
      'ActivityBlocked',
      // `quota` from issue 18 on: on a quota block, the limit that refused the send and when it reopens.
      { activityId: string; status: 'blocked_by_allowlist' | 'blocked_by_quota'; reason: string; quota?: QuotaBlock; at: string }
    >
  | DomainEvent<'ActivitySentDryRun', { activityId: string; at: string }>
  | DomainEvent<'ActivityQueuedForApproval', { activityId: string; approvalId: string; ruleId: string | null; at: string }>
  | DomainEvent<'ActivityApproved', { activityId: string; approvalId: string | null; ruleId: string | null; by: string; at: string }>
  | DomainEvent<'ActivityRejected', { activityId: string; approvalId: string; by: string; reason: string | null; at: string }>
  | DomainEvent<
      'ActivityDispatching',
      {
        activityId: string;
        bucket: string;
        credentialId: string;
        day: string;
        leaseUntil: string;
        at: string;
        /**
         * The rule that approved the send, when its approval and the dispatch's start were decided together (from
         * issue 19 on: one event where there were `ActivityApproved` by the rule and this). Absent: approved before
         * (an `ActivityApproved` of its own, by a rule in older histories or by a person).
         */
        approvedByRule?: string;
      }
    >
  | DomainEvent<'ActivitySent', { activityId: string; providerMessageId: string | null; at: string; recipientAliases?: string[] }>
  | DomainEvent<'ActivityFailed', { activityId: string; error: ActivityError; quotaRefunded: boolean; at: string }>
  | DomainEvent<
      'ActivityDeliveryUpdated',
      {
        activityId: string;
        state: DeliveryState;
        at: string;
        providerEventId: string;
        error?: ActivityError;
        newProviderMessageId?: string;
      }
    >
  | DomainEvent<
      'ActivityReplyReceived',
      { activityId: string; at: string; text: string | null; providerEventId: string; choice?: ReplyChoice }
    >
  | DomainEvent<'ActivityResendDecided', { activityId: string; resentAs: string; by: string; at: string }>;

export interface ActivityState {
  status: ActivityStatus;
  request: ActivityRequest | null;
  approvalId: string | null;
  bucket: string | null;
  /** Until when a dispatch in progress is presumed alive (the reconciler waits for it). */
  leaseUntil: string | null;
  error: ActivityError | null;
  updatedAt: string | null;
  /** Provider events already recorded: a webhook delivered twice is recorded once. */
  providerEventIds: readonly string[];
  /** The activity a person decided to resend this one as (at most one). */
  resentAs: string | null;
  /** On a quota block: the limit that refused the send and when it reopens (absent before issue 18). */
  quotaBlock?: QuotaBlock;
}

export type ActivityCommand =
  | { type: 'RequestActivity'; request: ActivityRequest }
  | { type: 'BlockActivity'; status: 'blocked_by_allowlist' | 'blocked_by_quota'; reason: string; quota?: QuotaBlock; now: string }
  | { type: 'SendDryRun'; now: string }
  | { type: 'QueueForApproval'; approvalId: string; ruleId: string | null; now: string }
  | { type: 'ApproveActivity'; approvalId: string | null; ruleId: string | null; by: string; now: string }
  | { type: 'RejectActivity'; approvalId: string; by: string; reason: string | null; now: string }
  /** `approvedByRule`: the dispatch starts on a request a rule approves in the same step (from `requested`). */
  | { type: 'StartDispatch'; bucket: string; credentialId: string; day: string; leaseUntil: string; now: string; approvedByRule?: string }
  /**
   * `recipientAliases`: names of the recipient the provider gave while sending (LinkedIn: the member id a profile
   * URL is), kept so that what the provider later says of that name (a reply, an accepted invitation) finds the send.
   */
  | { type: 'RecordSent'; providerMessageId: string | null; recipientAliases?: string[]; now: string }
  | { type: 'RecordFailed'; error: ActivityError; quotaRefunded: boolean; now: string }
  /** `newProviderMessageId`: the provider's new id for the message (a rescheduled booking's uid), learnt by the send. */
  | {
      type: 'RecordDelivery';
      state: DeliveryState;
      at: string;
      providerEventId: string;
      error?: ActivityError;
      newProviderMessageId?: string;
    }
  | { type: 'RecordReply'; at: string; text: string | null; providerEventId: string; choice?: ReplyChoice }
  | { type: 'DecideResend'; by: string; now: string };

/** Which statuses each command may start from: anything else is an invalid transition (422). */
const FROM: Record<Exclude<ActivityCommand['type'], 'RequestActivity'>, ActivityStatus[]> = {
  BlockActivity: ['requested', 'approved'],
  SendDryRun: ['requested'],
  QueueForApproval: ['requested'],
  ApproveActivity: ['requested', 'draft_pending_approval'],
  RejectActivity: ['draft_pending_approval'],
  StartDispatch: ['approved'],
  RecordSent: ['dispatching'],
  RecordFailed: ['requested', 'approved', 'dispatching'],
  // Only a message the provider took can be delivered, read or answered.
  RecordDelivery: ['sent'],
  RecordReply: ['sent'],
  // The status stays `failed`: the resend is another activity, with an outcome of its own.
  DecideResend: ['failed'],
};

/** A dispatch that carries its rule's approval starts where that approval would have been given. */
const APPROVED_AND_STARTED_FROM: ActivityStatus[] = ['requested'];

export const activityDecider: Decider<ActivityCommand, ActivityState, ActivityEvent> = {
  initialState: () => ({
    status: 'none',
    request: null,
    approvalId: null,
    bucket: null,
    leaseUntil: null,
    error: null,
    updatedAt: null,
    providerEventIds: [],
    resentAs: null,
  }),
  evolve(state, event) {
    const at = 'at' in event.data ? (event.data.at as string) : state.updatedAt;
    switch (event.type) {
      case 'ActivityRequested':
        return { ...state, status: 'requested', request: event.data, updatedAt: event.data.requestedAt };
      case 'ActivityBlocked':
        return { ...state, status: event.data.status, ...(event.data.quota ? { quotaBlock: event.data.quota } : {}), updatedAt: at };
      case 'ActivitySentDryRun':
        return { ...state, status: 'sent_dryrun', updatedAt: at };
      case 'ActivityQueuedForApproval':
        return { ...state, status: 'draft_pending_approval', approvalId: event.data.approvalId, updatedAt: at };
      case 'ActivityApproved':
        return { ...state, status: 'approved', updatedAt: at };
      case 'ActivityRejected':
        return { ...state, status: 'rejected', updatedAt: at };
      case 'ActivityDispatching':
        return { ...state, status: 'dispatching', bucket: event.data.bucket, leaseUntil: event.data.leaseUntil, updatedAt: at };
      case 'ActivitySent':
        return { ...state, status: 'sent', updatedAt: at };
      case 'ActivityFailed':
        return { ...state, status: 'failed', error: event.data.error, updatedAt: at };
      // After the send: the status stays what the dispatcher decided (see docs/ARCHITECTURE.md, inbound webhooks).
      case 'ActivityDeliveryUpdated':
      case 'ActivityReplyReceived':
        return { ...state, providerEventIds: [...state.providerEventIds, event.data.providerEventId] };
      case 'ActivityResendDecided':
        return { ...state, resentAs: event.data.resentAs, updatedAt: at };
    }
  },
  decide(command, state) {
    if (command.type === 'RequestActivity') {
      if (state.status !== 'none') throw new DomainError('conflict', 'activity already requested');
      return [{ type: 'ActivityRequested', data: { ...command.request } }];
    }
    if (state.status === 'none') throw new DomainError('not_found', 'activity not found');
    const from = command.type === 'StartDispatch' && command.approvedByRule !== undefined ? APPROVED_AND_STARTED_FROM : FROM[command.type];
    if (!from.includes(state.status)) {
      throw new DomainError('invalid_state', `cannot ${command.type} an activity that is ${state.status}`);
    }
    const activityId = state.request!.activityId;
    if ((command.type === 'RecordDelivery' || command.type === 'RecordReply') && state.providerEventIds.includes(command.providerEventId))
      return [];
    switch (command.type) {
      case 'BlockActivity':
        return [
          {
            type: 'ActivityBlocked',
            data: {
              activityId,
              status: command.status,
              reason: command.reason,
              ...(command.quota ? { quota: command.quota } : {}),
              at: command.now,
            },
          },
        ];
      case 'SendDryRun':
        return [{ type: 'ActivitySentDryRun', data: { activityId, at: command.now } }];
      case 'QueueForApproval':
        return [
          {
            type: 'ActivityQueuedForApproval',
            data: { activityId, approvalId: command.approvalId, ruleId: command.ruleId, at: command.now },
          },
        ];
      case 'ApproveActivity':
        if (state.status === 'draft_pending_approval' && command.approvalId !== state.approvalId) {
          throw new DomainError('invalid_state', 'this approval is not the one the activity waits for');
        }
        return [
          {
            type: 'ActivityApproved',
            data: { activityId, approvalId: command.approvalId, ruleId: command.ruleId, by: command.by, at: command.now },
          },
        ];
      case 'RejectActivity':
        return [
          {
            type: 'ActivityRejected',
            data: { activityId, approvalId: command.approvalId, by: command.by, reason: command.reason, at: command.now },
          },
        ];
      case 'StartDispatch':
        return [
          {
            type: 'ActivityDispatching',
            data: {
              activityId,
              bucket: command.bucket,
              credentialId: command.credentialId,
              day: command.day,
              leaseUntil: command.leaseUntil,
              at: command.now,
              ...(command.approvedByRule !== undefined ? { approvedByRule: command.approvedByRule } : {}),
            },
          },
        ];
      case 'RecordSent':
        return [
          {
            type: 'ActivitySent',
            data: {
              activityId,
              providerMessageId: command.providerMessageId,
              at: command.now,
              ...(command.recipientAliases?.length ? { recipientAliases: command.recipientAliases } : {}),
            },
          },
        ];
      case 'RecordFailed':
        return [
          { type: 'ActivityFailed', data: { activityId, error: command.error, quotaRefunded: command.quotaRefunded, at: command.now } },
        ];
      case 'RecordDelivery':
        return [
          {
            type: 'ActivityDeliveryUpdated',
            data: {
              activityId,
              state: command.state,
              at: command.at,
              providerEventId: command.providerEventId,
              ...(command.error ? { error: command.error } : {}),
              ...(command.newProviderMessageId ? { newProviderMessageId: command.newProviderMessageId } : {}),
            },
          },
        ];
      case 'RecordReply':
        return [
          {
            type: 'ActivityReplyReceived',
            data: {
              activityId,
              at: command.at,
              text: command.text,
              providerEventId: command.providerEventId,
              ...(command.choice ? { choice: command.choice } : {}),
            },
          },
        ];
      case 'DecideResend':
        // Once: a second decision would be a second message to a recipient who may have both by then.
        if (state.resentAs) throw new DomainError('conflict', 'this activity was already resent', { activityId, resentAs: state.resentAs });
        if (!isUnknownOutcome(state.error)) {
          throw new DomainError(
            'invalid_state',
            `only a send whose outcome is unknown may be resent; this one failed with ${state.error?.code ?? 'no code'}`,
          );
        }
        return [
          { type: 'ActivityResendDecided', data: { activityId, resentAs: resendActivityId(activityId), by: command.by, at: command.now } },
        ];
    }
  },
};
