import type { ActivityError } from '../../domain/activity.js';
import type { QuotaLimit } from '../../domain/quota-limits.js';
import type { ChannelAdapters } from '../../channels/port.js';
import type { SendChannel } from '../../domain/channels.js';
import type { OutboxState } from '../../domain/outbox.js';
import type { EventStore } from '../../eventstore/port.js';
import type { Logger } from '../../logger.js';
import type { MasterKey } from '../../secrets/crypto.js';
import type { AggregateCache } from '../aggregate-cache.js';
import type { QuotaReserver, SharedQuotaLookup } from '../quota.js';

export interface SendRequest {
  channel: SendChannel;
  outboxId: string;
  to: string;
  payload: Record<string, unknown>;
  contentPieceId?: string | null;
  clientDedupKey?: string | null;
  tags?: string[];
  /**
   * Who owns the dedup key's namespace: a caller of the service itself (the sequence scheduler), whose keys no
   * client can spell (a client's key names activity derivedUuid(company, key); a scoped one derivedUuid(company,
   * scope, key), which takes a NUL no client key can hold). Never set from a request body.
   */
  dedupScope?: 'sequence';
}

export type SendStatus = 'draft_pending_approval' | 'sent' | 'sent_dryrun' | 'blocked_by_allowlist' | 'blocked_by_quota' | 'failed';

export interface SendResult {
  id: string;
  status: SendStatus | 'rejected';
  approvalId?: string;
  error?: ActivityError;
  /** On `blocked_by_quota`: the limit that refused the send, and when that limit takes one more. */
  limit?: QuotaLimit;
  retryAt?: string;
  /** On a resend: the activity it resends. */
  resendOf?: string;
  /** On a send a person resent whose resend has not started yet: the activity it will be. */
  resentAs?: string;
}

export interface DispatcherDeps {
  store: EventStore;
  /**
   * The smallest daily cap and the tightest limits of the company's outboxes that share a credential (cap null:
   * none known): the one fact of the send path that is not an aggregate's, read from the outboxes read model
   * (`sharedQuotaLookup` there).
   */
  sharedQuota: SharedQuotaLookup;
  masterKey: MasterKey;
  adapters: ChannelAdapters;
  now: () => Date;
  /** How long a reservation may stay without an outcome before the reconciler settles it (ms). */
  leaseMs: number;
  /** Sends run at once; more wait their turn (backpressure: embedded PGlite runs one query at a time). */
  maxConcurrentSends: number;
  /** Of those, how many one company may run (default: half): a company whose sends stall cannot stall the others'. */
  maxSendsPerCompany?: number;
  /** Silent when not given. */
  logger?: Logger;
  /** The runtime's, shared with the commands on the same aggregates (one fold of an allowlist, not two). */
  cache?: AggregateCache;
  /** Told each outcome the dispatcher decides (the runtime logs it and counts it); a repeat's answer is not one. */
  onOutcome?: (o: SendOutcome) => void;
}

/** A send decided: how it ended, and how it got there (`via`). */
export interface SendOutcome {
  companyId: string;
  activityId: string;
  channel: string;
  outboxId: string;
  status: string;
  /** Why it did not go: the error code of a block or a failure. */
  reason: string | null;
  via: 'send' | 'sequence' | 'resend' | 'approval' | 'rejection';
}

/** What every part of the send path works with: the dispatcher's dependencies, its cache, its quota and its log. */
export interface SendContext {
  deps: DispatcherDeps;
  cache: AggregateCache;
  quota: QuotaReserver;
  logger: Logger;
  report: (o: SendOutcome) => void;
}

/** The outbox a company may send through: live, and its own. */
export function liveOutbox(state: OutboxState, companyId: string, outboxId: string) {
  return state.status === 'active' && state.companyId === companyId ? { outboxId, companyId, ...state.fields } : null;
}

export type LiveOutbox = NonNullable<ReturnType<typeof liveOutbox>>;
