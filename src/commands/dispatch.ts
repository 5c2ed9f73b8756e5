import { createHash, randomUUID } from 'node:crypto';
import { isBackendDown } from '../backend-errors.js';
import { derivedUuid } from '../domain/derived-id.js';
import { ChannelError, type ChannelAdapters } from '../channels/port.js';
import { SEND_PAYLOAD } from '../channels/schemas.js';
import {
  type ActivityCommand,
  type ActivityError,
  type ActivityRequest,
  ANSWERABLE,
  type ActivityState,
  activityDecider,
  activityStream,
  resendActivityId,
} from '../domain/activity.js';
import { type AllowlistState, allowedBy, allowlistDecider, allowlistStream } from '../domain/allowlist.js';
import { approvalDecider, approvalStream } from '../domain/approval.js';
import { type ApprovalRulesState, approvalRulesDecider, approvalRulesStream, evaluateRules } from '../domain/approval-rules.js';
import { canonicalJson } from '../domain/canonical-json.js';
import type { OutboxChannel, SendChannel } from '../domain/channels.js';
import { contentPieceDecider, contentPieceStream } from '../domain/content-piece.js';
import { DomainError } from '../domain/decider.js';
import { type OutboxState, outboxDecider, outboxStream } from '../domain/outbox.js';
import { RECIPIENT_FORMS, canonicalEmail, canonicalRecipient, recipientKeys } from '../domain/recipients.js';
import { type SecretState, secretDecider, secretStream } from '../domain/secret.js';
import { type SuppressionState, suppressedBy, suppressionDecider, suppressionStreamsFor } from '../domain/suppression.js';
import { localDay } from '../domain/time-window.js';
import { type EventStore, type Position, WrongExpectedRevisionError, comparePositions } from '../eventstore/port.js';
import { sharedCap } from '../projections/outboxes.js';
import { type Logger, silentLogger } from '../logger.js';
import { type MasterKey, SecretDecryptionError } from '../secrets/crypto.js';
import { parseSecretRef } from '../secrets/secret-ref.js';
import type { Queryable } from '../sql/db.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { handleCommand, loadAggregate } from './handle-command.js';
import { type BucketKey, QuotaReserver } from './quota.js';
import { AggregateCache } from './aggregate-cache.js';
import { FairSemaphore, defaultShare } from '../concurrency/fair-semaphore.js';
import { windowRefusal } from './messaging-window.js';
import { openSecret } from './secrets.js';

export interface SendRequest {
  channel: SendChannel;
  outboxId: string;
  to: string;
  payload: Record<string, unknown>;
  contentPieceId?: string | null;
  clientDedupKey?: string | null;
  tags?: string[];
}

export type SendStatus = 'draft_pending_approval' | 'sent' | 'sent_dryrun' | 'blocked_by_allowlist' | 'blocked_by_quota' | 'failed';

export interface SendResult {
  id: string;
  status: SendStatus | 'rejected';
  approvalId?: string;
  error?: ActivityError;
  /** On a resend: the activity it resends. */
  resendOf?: string;
  /** On a send a person resent whose resend has not started yet: the activity it will be. */
  resentAs?: string;
}

/** How a resend enters the send pipeline (see Dispatcher.resend). */
interface ResendPlan {
  activityId: string;
  resendOf: string;
  /** Records the person's decision on the original; called once every check that writes nothing has passed. */
  recordDecision: () => Promise<Position | null>;
}

export interface DispatcherDeps {
  store: EventStore;
  db: Queryable;
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
}

/** How long a send waits for the database to record its provider's answer before it replies 503 (ms). */
const RECORD_OUTCOME_INLINE_MS = 3000;

/** Tracks the furthest position a command reached, for read-your-writes. */
class Positions {
  last: Position | null = null;
  add(p: Position | null) {
    if (p && (!this.last || comparePositions(p, this.last) > 0)) this.last = p;
  }
}


/**
 * The recipient as its channel spells it (src/domain/recipients.ts), computed once: the checks, the activity and
 * the adapter all use it. Any other spelling is a 400 before anything is written.
 */
function checkRecipient(channel: OutboxChannel, to: string): string {
  const canonical = canonicalRecipient(channel, to);
  if (canonical === null) throw new DomainError('invalid_input', `to is not a valid ${channel} recipient`, [{ code: 'custom', path: ['to'], message: `must be ${RECIPIENT_FORMS[channel]}` }]);
  return canonical;
}

/** A recipient and the suppressions of its keys, as far as they were read. */
type LoadedSuppressions = Map<string, SuppressionState>;

/** What the activity records of a failure to reach the provider: its own code, or what kind of failure it was. */
function failureOf(err: unknown): ActivityError {
  if (err instanceof ChannelError) return { code: err.code, message: err.message, ...err.details };
  if (err instanceof DomainError) return { code: 'credential_unavailable', message: 'the outbox credential cannot be resolved' };
  if (err instanceof SecretDecryptionError) return { code: 'secret_unreadable', message: 'the outbox credential cannot be opened with the secrets master key of this instance' };
  return { code: 'adapter_error', message: 'the channel adapter failed' };
}

/** What an adapter is told of the outbox it sends through. */
const forAdapter = (outbox: LiveOutbox) => ({ outboxId: outbox.outboxId, companyId: outbox.companyId, channel: outbox.channel, config: outbox.config });

/** A dedup key names one activity, deterministically (a UUID made from the company and the key). */
export function dedupActivityId(companyId: string, key: string): string {
  return derivedUuid(companyId, key);
}

/**
 * An activity this process is working on: its state and revision are kept, so each step decides on them and
 * appends with the exact revision, without reading the stream again. A conflict (someone else wrote) reloads.
 */
class ActivityHandle {
  constructor(
    readonly id: string,
    public state: ActivityState,
    public revision: number | null,
    private readonly store: EventStore,
    private readonly actor: Actor,
    readonly positions: Positions,
  ) {}

  static async load(store: EventStore, id: string, actor: Actor, positions: Positions): Promise<ActivityHandle> {
    const { state, revision } = await loadAggregate(store, activityStream(id), activityDecider);
    return new ActivityHandle(id, state, revision, store, actor, positions);
  }

  /** Decides the commands in order and appends their events together (`handleCommand` on the state held). */
  async apply(commands: ActivityCommand[], options: { retryOnConflict?: boolean } = {}): Promise<ActivityState> {
    const r = await handleCommand(this.store, activityStream(this.id), activityDecider, commands, {
      metadata: actorMetadata(this.actor),
      known: { state: this.state, revision: this.revision },
      // What a conflict reloads is this handle's from then on, whatever the decision on it.
      load: async () => {
        const fresh = await loadAggregate(this.store, activityStream(this.id), activityDecider);
        this.state = fresh.state;
        this.revision = fresh.revision;
        return fresh;
      },
      ...(options.retryOnConflict === false ? { maxAttempts: 1 } : {}),
    });
    this.state = r.state;
    this.revision = r.revision;
    this.positions.add(r.position);
    return r.state;
  }
}

/**
 * Why the recipient may not be contacted at all (outside the allowlist, or suppressed), as the step that blocks
 * the send. `keys` are all its names (`recipientKeys`): allowed under one, suppressed under none. No keys: a
 * send requested before recipients were canonical whose `to` is no recipient of its channel.
 */
function recipientRefusal(allowlist: AllowlistState, suppressions: SuppressionState[], keys: readonly string[], channel: OutboxChannel, now: string): ActivityCommand | null {
  const reason =
    keys.length === 0 ? 'invalid_recipient' : !allowedBy(allowlist.entries.values(), keys, channel) ? 'not_allowlisted' : suppressedBy(suppressions, channel) ? 'suppressed' : null;
  return reason ? { type: 'BlockActivity', status: 'blocked_by_allowlist', reason, now } : null;
}

/** The secret an outbox state names, if any. */
function secretIdOf(state: OutboxState | undefined): string | null {
  return state?.status === 'active' ? (parseSecretRef(state.fields.secretRef)?.secretId ?? null) : null;
}

type LiveOutbox = NonNullable<ReturnType<typeof liveOutbox>>;

interface Reservation {
  key: BucketKey;
  reserved: boolean;
}

/** The outbox a company may send through: live, and its own. */
function liveOutbox(state: OutboxState, companyId: string, outboxId: string) {
  return state.status === 'active' && state.companyId === companyId ? { outboxId, companyId, ...state.fields } : null;
}

const resultOf = (id: string, s: ActivityState): SendResult => ({
  id,
  status: s.status as SendResult['status'],
  ...(s.approvalId ? { approvalId: s.approvalId } : {}),
  ...(s.error ? { error: s.error } : {}),
  ...(s.request?.resendOf ? { resendOf: s.request.resendOf } : {}),
  ...(s.resentAs ? { resentAs: s.resentAs } : {}),
});

/**
 * The dispatcher: every send, manual or scheduled, goes allowlist -> approval rules -> quota -> adapter, and
 * ends in exactly one status, each step an event on the activity's stream.
 */
export class Dispatcher {
  readonly quota: QuotaReserver;
  private readonly slots: FairSemaphore;
  private readonly cache: AggregateCache;
  private readonly recording = new Set<Promise<unknown>>();
  private closed = false;
  private readonly logger: Logger;

  constructor(private readonly deps: DispatcherDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.quota = new QuotaReserver(deps.store, (key) => sharedCap(deps.db, key.companyId, key.credentialId));
    this.cache = deps.cache ?? new AggregateCache(deps.store);
    this.slots = new FairSemaphore(deps.maxConcurrentSends, Math.min(deps.maxConcurrentSends, deps.maxSendsPerCompany ?? defaultShare(deps.maxConcurrentSends)));
  }

  send(companyId: string, req: SendRequest, actor: Actor): Promise<{ result: SendResult; position: Position | null }> {
    return this.slots.run(companyId, () => this.sendNow(companyId, req, actor));
  }

  private async sendNow(companyId: string, req: SendRequest, actor: Actor, resend?: ResendPlan): Promise<{ result: SendResult; position: Position | null }> {
    const positions = new Positions();
    const now = this.deps.now();
    const tags = [...new Set(req.tags ?? [])].sort();
    const requestHash = createHash('sha256')
      .update(canonicalJson({ channel: req.channel, outboxId: req.outboxId, to: req.to, payload: req.payload, contentPieceId: req.contentPieceId ?? null, tags }))
      .digest('hex');
    const activityId = resend?.activityId ?? (req.clientDedupKey ? dedupActivityId(companyId, req.clientDedupKey) : randomUUID());

    if (req.clientDedupKey) {
      const existing = await this.existing(activityId, requestHash);
      if (existing) return { result: existing, position: null };
    }

    // Everything the decisions read, caught up in one query; with the outbox's credential when the outbox is
    // known already, so that the adapter needs no other read.
    const peeked = this.cache.peek<OutboxState>(outboxStream(req.outboxId));
    const credentialGuess = secretIdOf(peeked);
    // The recipient's suppressions too, when its channel is known before the outbox is read (a dry run's is
    // its outbox's): those of the canonical `to`, which is all most sends need.
    const channelGuess = req.channel !== 'dry-run' ? req.channel : peeked?.status === 'active' ? peeked.fields.channel : null;
    const toGuess = channelGuess ? canonicalRecipient(channelGuess, req.to) : null;
    const suppressionStreams = toGuess && channelGuess ? suppressionStreamsFor(companyId, recipientKeys(channelGuess, toGuess), channelGuess) : [];
    const [outboxState, allowlist, rules, ...rest] = (await this.cache.load([
      { streamName: outboxStream(req.outboxId), decider: outboxDecider },
      { streamName: allowlistStream(companyId), decider: allowlistDecider },
      { streamName: approvalRulesStream(companyId), decider: approvalRulesDecider },
      ...suppressionStreams.map((streamName) => ({ streamName, decider: suppressionDecider })),
      ...(credentialGuess ? [{ streamName: secretStream(credentialGuess), decider: secretDecider }] : []),
    ])) as [OutboxState, AllowlistState, ApprovalRulesState, ...unknown[]];
    const loadedSuppressions: LoadedSuppressions = new Map(suppressionStreams.map((s, i) => [s, rest[i] as SuppressionState]));
    // The credential read with the rest, when the guess named the outbox's actual secret.
    const preloadedSecret = credentialGuess === secretIdOf(outboxState) ? (rest[suppressionStreams.length] as SecretState | undefined) : undefined;
    const outbox = liveOutbox(outboxState, companyId, req.outboxId);
    if (!outbox) throw new DomainError('not_found', 'outbox not found');
    if (req.channel !== 'dry-run' && req.channel !== outbox.channel) {
      throw new DomainError('invalid_state', `channel ${req.channel} does not match the outbox's channel ${outbox.channel}`);
    }
    const payload = SEND_PAYLOAD[outbox.channel].safeParse(req.payload);
    if (!payload.success) {
      throw new DomainError('invalid_input', `payload is not a valid ${outbox.channel} payload`, payload.error.issues.map(({ code, path, message }) => ({ code, path: ['payload', ...path], message })));
    }
    let to = checkRecipient(outbox.channel, req.to);
    let recipientAliases: string[] | undefined;
    let sentPayload = payload.data;
    // A booking is made for the address the allowlist checked, never for another one in the payload.
    const attendee = (payload.data as { attendee?: { email?: string } }).attendee;
    if (outbox.channel === 'cal-com') {
      if (canonicalEmail(attendee?.email ?? '') !== to) {
        throw new DomainError('invalid_input', 'payload.attendee.email must be the recipient (to)', [{ code: 'custom', path: ['payload', 'attendee', 'email'], message: 'must equal to' }]);
      }
      sentPayload = { ...payload.data, attendee: { ...attendee, email: to } };
    }
    let suppressions = await this.suppressionsOf(companyId, recipientKeys(outbox.channel, to), outbox.channel, loadedSuppressions);
    // A recipient with several names (LinkedIn) is looked up before the checks, so that every name is checked;
    // not for a dry run (it reaches no provider), nor when a name given is suppressed already.
    let unresolved: ActivityError | null = null;
    if (req.channel !== 'dry-run' && this.deps.adapters[outbox.channel].resolveRecipient && !suppressedBy(suppressions, outbox.channel)) {
      const resolved = await this.resolveRecipient(outbox, to, activityId, preloadedSecret);
      if ('error' in resolved) unresolved = resolved.error;
      else {
        ({ to, aliases: recipientAliases } = resolved);
        suppressions = await this.suppressionsOf(companyId, recipientKeys(outbox.channel, to, recipientAliases), outbox.channel, loadedSuppressions);
      }
    }
    let niche = outbox.niche;
    let allTags = tags;
    if (req.contentPieceId) {
      const [piece] = await this.cache.load([{ streamName: contentPieceStream(req.contentPieceId), decider: contentPieceDecider }] as const);
      if (piece.status !== 'active' || piece.companyId !== companyId) throw new DomainError('not_found', 'content piece not found');
      niche = niche ?? piece.fields.niche;
      allTags = [...new Set([...piece.fields.tags, ...tags])].sort();
    }

    const request: ActivityRequest = {
      activityId,
      companyId,
      outboxId: outbox.outboxId,
      channel: req.channel,
      outboxChannel: outbox.channel,
      to,
      ...(recipientAliases ? { recipientAliases } : {}),
      payload: sentPayload,
      contentPieceId: req.contentPieceId ?? null,
      niche,
      tags: allTags,
      clientDedupKey: req.clientDedupKey ?? null,
      requestHash,
      requestedBy: actorLabel(actor),
      requestedAt: now.toISOString(),
      ...(resend ? { resendOf: resend.resendOf } : {}),
    };
    const iso = now.toISOString();

    // Allowlist, dry run and approval rules are decided first, so that the request and its first decision
    // go in one append (the one that claims a dedup key).
    const steps: ActivityCommand[] = [{ type: 'RequestActivity', request }];
    let approval: { approvalId: string; ruleId: string | null } | null = null;
    const refused = unresolved ? null : recipientRefusal(allowlist, suppressions, recipientKeys(outbox.channel, to, recipientAliases), outbox.channel, iso);
    if (unresolved) {
      // The provider does not know the recipient (or could not say): nothing was sent, no unit spent.
      steps.push({ type: 'RecordFailed', error: unresolved, quotaRefunded: false, now: iso });
    } else if (refused) {
      steps.push(refused);
    } else if (req.channel === 'dry-run') {
      steps.push({ type: 'SendDryRun', now: iso });
    } else {
      const decision = evaluateRules(rules.rules.values(), { channel: outbox.channel, niche, tags: allTags, at: now });
      // Meta reserves the human-agent tag for messages a person writes: an AI agent's always waits for one.
      const personRequired = actor.kind === 'agent' && payload.data.humanAgent === true;
      if (decision.action === 'queue_for_manual' || personRequired) {
        approval = { approvalId: randomUUID(), ruleId: decision.rule?.ruleId ?? null };
        steps.push({ type: 'QueueForApproval', ...approval, now: iso });
      } else {
        steps.push({ type: 'ApproveActivity', approvalId: null, ruleId: decision.rule!.ruleId, by: 'rule', now: iso });
      }
    }
    // Last of the checks that write nothing: a resend refused by them (its outbox is gone) records no decision.
    if (resend) positions.add(await resend.recordDecision());
    if (approval) {
      // The approval exists before the activity names it, so a pending activity always has its approval.
      const a = await handleCommand(
        this.deps.store,
        approvalStream(approval.approvalId),
        approvalDecider,
        {
          type: 'RequestApproval',
          data: { approvalId: approval.approvalId, activityId, companyId, outboxId: outbox.outboxId, channel: outbox.channel, to: request.to, ruleId: approval.ruleId, at: iso },
        },
        { metadata: actorMetadata(actor) },
      );
      positions.add(a.position);
    }

    // An auto-approved send reserves its unit first, so that the request, its approval and the start of its
    // dispatch (or its quota block) are one append. A crash between the two leaves the unit held by an
    // activity that never existed: the day's cap shrinks by one, and is never exceeded.
    let reservation: Reservation | null = null;
    if (steps.at(-1)!.type === 'ApproveActivity') {
      // Before any quota: a message the provider would refuse (closed messaging window) must not spend a unit.
      const closed = await windowRefusal(this.cache, request, outbox, now);
      if (closed) {
        steps.push({ type: 'RecordFailed', error: closed, quotaRefunded: false, now: iso });
      } else {
        reservation = await this.reserveFor(activityId, request, outbox, now, positions);
        steps.push(this.afterReservation(reservation, now));
      }
    }
    const activity = new ActivityHandle(activityId, activityDecider.initialState(), null, this.deps.store, actor, positions);
    try {
      await activity.apply(steps, { retryOnConflict: false });
    } catch (err) {
      // Nothing will be sent for this request: its unit goes back (even if the append did commit after all,
      // the reconciler then settles that activity without sending). Not under a dedup key: the activity id,
      // and with it the unit, is shared with the request that won, or with a retry that will use it.
      if (reservation?.reserved && !req.clientDedupKey && !resend) positions.add((await this.quota.refund(reservation.key, activityId, this.deps.now())).position);
      // The same dedup key, concurrently: the first request goes on, this one answers with its result.
      if (resend && err instanceof WrongExpectedRevisionError) {
        // Another call completed the same resend first (same derived id, same unit): it goes on, this one is a 409.
        if (approval) await this.dropOrphanApproval(companyId, approval.approvalId, actor);
        throw new DomainError('conflict', 'this activity was already resent', { activityId: resend.resendOf, resentAs: activityId });
      }
      if (!(err instanceof WrongExpectedRevisionError) || !req.clientDedupKey) throw err;
      if (approval) await this.dropOrphanApproval(companyId, approval.approvalId, actor);
      const existing = await this.existing(activityId, requestHash);
      if (existing) return { result: existing, position: null };
      throw err;
    }
    const s = activity.state.status === 'dispatching' ? await this.deliver(activity, outbox, reservation!.key, preloadedSecret) : activity.state;
    return { result: resultOf(activityId, s), position: positions.last };
  }

  /** An approval made for a request that lost a dedup race names no activity of its own: close it. */
  private async dropOrphanApproval(companyId: string, approvalId: string, actor: Actor) {
    await handleCommand(
      this.deps.store,
      approvalStream(approvalId),
      approvalDecider,
      { type: 'RejectApproval', companyId, by: actorLabel(actor), reason: 'duplicate request (clientDedupKey)', now: this.deps.now().toISOString() },
      { metadata: actorMetadata(actor) },
    ).catch(() => {});
  }

  /** A quota unit for the activity, in the bucket of its outbox's credential and local day. */
  private async reserveFor(activityId: string, request: ActivityRequest, outbox: LiveOutbox, now: Date, positions: Positions): Promise<Reservation> {
    const key: BucketKey = { companyId: request.companyId, credentialId: outbox.credentialId, day: localDay(now, outbox.timezone) };
    // This outbox's own cap, lowered by the reserver to the smallest of the outboxes sharing the credential
    // (the outbox's own holds in case the read model lags).
    const r = await this.quota.reserve(key, activityId, outbox.dailyCap, now);
    positions.add(r.position);
    return { key, reserved: r.reserved };
  }

  /** The step a reservation leads to: the dispatch starts with a lease, or the send is blocked by the quota. */
  private afterReservation({ key, reserved }: Reservation, now: Date): ActivityCommand {
    const iso = now.toISOString();
    if (!reserved) return { type: 'BlockActivity', status: 'blocked_by_quota', reason: 'daily_cap_reached', now: iso };
    return {
      type: 'StartDispatch',
      bucket: `${key.credentialId}.${key.day}`,
      credentialId: key.credentialId,
      day: key.day,
      leaseUntil: new Date(now.getTime() + this.deps.leaseMs).toISOString(),
      now: iso,
    };
  }

  /** The rest of the pipeline for an activity approved by a human: quota, then the channel adapter. */
  private async dispatchApproved(activity: ActivityHandle): Promise<ActivityState> {
    const request = activity.state.request!;
    const now = this.deps.now();
    const channel = request.outboxChannel as OutboxChannel;
    // `to` is canonical, unless the send was requested before recipients were (then null: no recipient).
    const to = canonicalRecipient(channel, request.to);
    let keys = to === null ? [] : recipientKeys(channel, to, request.recipientAliases);
    const suppressionStreams = suppressionStreamsFor(request.companyId, keys, channel);
    const [outboxState, allowlist, ...loaded] = (await this.cache.load([
      { streamName: outboxStream(request.outboxId), decider: outboxDecider },
      { streamName: allowlistStream(request.companyId), decider: allowlistDecider },
      ...suppressionStreams.map((streamName) => ({ streamName, decider: suppressionDecider })),
    ])) as [OutboxState, AllowlistState, ...SuppressionState[]];
    const outbox = liveOutbox(outboxState, request.companyId, request.outboxId);
    if (!outbox) {
      return activity.apply([{ type: 'RecordFailed', error: { code: 'outbox_deleted', message: 'the outbox was deleted' }, quotaRefunded: false, now: now.toISOString() }]);
    }
    let suppressions = loaded;
    if (to !== null && request.recipientAliases === undefined && this.deps.adapters[outbox.channel].resolveRecipient) {
      // Requested before recipients were resolved: which member it is, now.
      const resolved = await this.resolveRecipient(outbox, to, activity.id);
      if ('error' in resolved) return activity.apply([{ type: 'RecordFailed', error: resolved.error, quotaRefunded: false, now: now.toISOString() }]);
      keys = recipientKeys(channel, resolved.to, resolved.aliases);
      suppressions = await this.suppressionsOf(request.companyId, keys, channel, new Map(suppressionStreams.map((st, i) => [st, loaded[i]!])));
    }
    // Approved by a person, maybe long after the request: the entry that allowed the recipient may be gone,
    // or the recipient may have unsubscribed or bounced since.
    const refused = recipientRefusal(allowlist, suppressions, keys, outbox.channel, now.toISOString());
    if (refused) return activity.apply([refused]);
    // The window may have closed while the send waited for a human.
    const closed = await windowRefusal(this.cache, request, outbox, now);
    if (closed) return activity.apply([{ type: 'RecordFailed', error: closed, quotaRefunded: false, now: now.toISOString() }]);
    const reservation = await this.reserveFor(activity.id, request, outbox, now, activity.positions);
    const s = await activity.apply([this.afterReservation(reservation, now)]);
    return s.status === 'dispatching' ? this.deliver(activity, outbox, reservation.key) : s;
  }

  /** The suppressions of a recipient's keys on `channel`: those `loaded` has, and the others in one more read. */
  private async suppressionsOf(companyId: string, keys: readonly string[], channel: OutboxChannel, loaded: LoadedSuppressions): Promise<SuppressionState[]> {
    const streams = suppressionStreamsFor(companyId, keys, channel);
    const missing = streams.filter((st) => !loaded.has(st));
    if (missing.length > 0) {
      const states = await this.cache.load(missing.map((streamName) => ({ streamName, decider: suppressionDecider })));
      missing.forEach((st, i) => loaded.set(st, states[i] as SuppressionState));
    }
    return streams.map((st) => loaded.get(st)!);
  }

  /**
   * Asks the outbox's provider which recipient a canonical `to` is (`ChannelAdapter.resolveRecipient`), with
   * the outbox's credential. A read, before any check or quota; what it cannot tell is the send's failure.
   */
  private async resolveRecipient(outbox: LiveOutbox, to: string, activityId: string, secretLoaded?: SecretState): Promise<{ to: string; aliases: string[] } | { error: ActivityError }> {
    try {
      const credential = await this.credentialOf(outbox, activityId, secretLoaded);
      const r = await this.deps.adapters[outbox.channel].resolveRecipient!(forAdapter(outbox), credential, to);
      // What comes back is named as any recipient is: canonical, or the provider's answer is not used.
      const resolved = canonicalRecipient(outbox.channel, r.to);
      if (resolved === null) return { error: { code: `${outbox.channel}_recipient_unresolved`, message: 'the provider named the recipient in an unknown form' } };
      return { to: resolved, aliases: r.aliases };
    } catch (err) {
      if (isBackendDown(err)) throw err;
      return { error: failureOf(err) };
    }
  }

  /**
   * The outbox credential's value, for its adapter. A value this instance's master key cannot open is logged: a
   * key mismatch between instances, which only the operator can mend (the secret's id under a name the logger
   * does not redact; the value never).
   */
  private async credentialOf(outbox: LiveOutbox, activityId: string, secretLoaded?: SecretState): Promise<string> {
    const ref = parseSecretRef(outbox.secretRef);
    if (!ref) throw new DomainError('invalid_state', 'the outbox secretRef is malformed');
    const secret = secretLoaded ?? (await this.cache.load([{ streamName: secretStream(ref.secretId), decider: secretDecider }] as const))[0];
    try {
      return openSecret(secret, ref, this.deps.masterKey, outbox.companyId).value;
    } catch (err) {
      if (err instanceof SecretDecryptionError) {
        this.logger.error('the outbox credential cannot be opened with the secrets master key of this instance', { activityId, outboxId: outbox.outboxId, credentialId: ref.secretId, error: err });
      }
      throw err;
    }
  }

  /** Hands a dispatching activity to its channel adapter and records the outcome. */
  private async deliver(activity: ActivityHandle, outbox: LiveOutbox, key: BucketKey, secretLoaded?: SecretState): Promise<ActivityState> {
    const request = activity.state.request!;
    let sent: { providerMessageId: string | null; recipientAliases?: string[] };
    try {
      const credential = await this.credentialOf(outbox, activity.id, secretLoaded);
      sent = await this.deps.adapters[outbox.channel].send(forAdapter(outbox), credential, {
        activityId: activity.id,
        to: request.to,
        payload: request.payload,
        idempotencyKey: activity.id,
      });
    } catch (err) {
      const error = failureOf(err);
    // The unit goes back only when the provider surely did not take the message.
      const refund = !(err instanceof ChannelError) || err.refundable;
      if (refund) activity.positions.add((await this.quota.refund(key, activity.id, this.deps.now())).position);
      return this.recordOutcome(activity, { type: 'RecordFailed', error, quotaRefunded: refund, now: this.deps.now().toISOString() });
    }
    // Sent. If this record cannot be written, nothing is refunded or re-sent.
    return this.recordOutcome(activity, { type: 'RecordSent', providerMessageId: sent.providerMessageId, recipientAliases: sent.recipientAliases, now: this.deps.now().toISOString() });
  }

  /**
   * Records what the provider answered. Only this process knows it: lost, the activity would be settled as
   * interrupted, and a person might resend to a recipient who got the message. So a database blip (a restart,
   * a terminated connection) is ridden out: retried for a moment before the caller hears a 503, then in the
   * background until the dispatch's lease ends, after which the reconciler settles it instead.
   */
  private async recordOutcome(activity: ActivityHandle, outcome: ActivityCommand, inBackground = false): Promise<ActivityState> {
    const deadline = inBackground ? Date.parse(activity.state.leaseUntil ?? '') : Date.now() + RECORD_OUTCOME_INLINE_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await activity.apply([outcome]);
      } catch (err) {
        // An append whose reply was lost may have committed: the reloaded activity then has its outcome already.
        if (err instanceof DomainError && activity.state.status !== 'dispatching') return activity.state;
        if (!isBackendDown(err) || this.closed) throw err;
        if (!(Date.now() + delay < deadline)) {
          if (!inBackground) this.recordLater(activity, outcome);
          throw err;
        }
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private recordLater(activity: ActivityHandle, outcome: ActivityCommand): void {
    const p = this.recordOutcome(activity, outcome, true)
      .catch(() => undefined)
      .finally(() => this.recording.delete(p));
    this.recording.add(p);
  }

  /** Stops retrying outcomes in the background (the reconciler settles what is left) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.recording);
  }

  /**
   * The first result of a dedup key, once it has one (or, once a person resent it, its resend's); a different
   * request under the same key is a 409.
   */
  private async existing(activityId: string, requestHash: string): Promise<SendResult | null> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { state } = await loadAggregate(this.deps.store, activityStream(activityId), activityDecider);
      if (state.status === 'none') return null;
      if (state.request!.requestHash !== requestHash) {
        throw new DomainError('conflict', 'clientDedupKey was already used for a different request', { activityId });
      }
      if (ANSWERABLE.has(state.status)) return state.resentAs ? this.latestResend(activityId, state, deadline) : resultOf(activityId, state);
      if (Date.now() > deadline) throw new DomainError('conflict', 'the first request with this clientDedupKey is still in progress; retry later', { activityId });
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Follows the resends people made of a send (a resend may be resent in turn) to the latest one's result. */
  private async latestResend(id: string, state: ActivityState, deadline: number): Promise<SendResult> {
    while (state.resentAs) {
      const next = (await loadAggregate(this.deps.store, activityStream(state.resentAs), activityDecider)).state;
      // Decided but not started, or cut short by a crash until a resend call completes it: this send's own
      // answer, which names the resend to come.
      if (next.status === 'none') break;
      if (ANSWERABLE.has(next.status)) {
        id = state.resentAs;
        state = next;
        continue;
      }
      if (Date.now() > deadline) throw new DomainError('conflict', 'the resend of this clientDedupKey\'s send is still in progress; retry later', { activityId: state.resentAs });
      await new Promise((r) => setTimeout(r, 25));
    }
    return resultOf(id, state);
  }

  // -------------------------------------------------------------------------------------------------------
  // Resends

  /**
   * A person's resend of a send whose outcome is unknown (`dispatch_interrupted`, `<channel>_outcome_unknown`):
   * the recipient may or may not have it, and only a person can judge. The decision goes on the original with
   * its exact revision, so it is taken once however many calls race; then the original's request runs through
   * the whole pipeline again (allowlist, suppressions, rules, a new quota unit, the window) as a new activity
   * under an id derived from the original's, without the original's dedup key. A crash between the two appends
   * leaves a decision naming an activity that does not exist: the next resend call completes it (the first
   * append of the derived id is `no_stream`, so completions race safely) rather than refuse it for good.
   */
  resend(companyId: string, activityId: string, actor: Actor): Promise<{ result: SendResult; position: Position | null }> {
    return this.slots.run(companyId, () => this.resendNow(companyId, activityId, actor));
  }

  private async resendNow(companyId: string, activityId: string, actor: Actor): Promise<{ result: SendResult; position: Position | null }> {
    const original = await ActivityHandle.load(this.deps.store, activityId, actor, new Positions());
    const request = original.state.request;
    if (!request || request.companyId !== companyId) throw new DomainError('not_found', 'activity not found');
    const resentAs = resendActivityId(activityId);
    const decide: ActivityCommand = { type: 'DecideResend', by: actorLabel(actor), now: this.deps.now().toISOString() };
    const decided = original.state.resentAs !== null;
    if (decided) {
      const { state } = await loadAggregate(this.deps.store, activityStream(resentAs), activityDecider);
      if (state.status !== 'none') throw new DomainError('conflict', 'this activity was already resent', { activityId, resentAs });
    } else {
      // Refused (422 known outcome, 409) before the pipeline reads anything.
      activityDecider.decide(decide, original.state);
    }
    let recording = false;
    try {
      return await this.sendNow(
        companyId,
        { channel: request.channel, outboxId: request.outboxId, to: request.to, payload: request.payload, contentPieceId: request.contentPieceId, tags: request.tags, clientDedupKey: null },
        actor,
        {
          activityId: resentAs,
          resendOf: activityId,
          recordDecision: async () => {
            recording = true;
            if (decided) return null;
            await original.apply([decide]);
            return original.positions.last;
          },
        },
      );
    } catch (err) {
      // The copied request refused before anything was written (its outbox or content piece is gone since, or
      // its payload no longer passes): the caller sent nothing wrong and the activity exists, so this is a send
      // that cannot be resent (422), not a 404 or a 400.
      if (!recording && err instanceof DomainError && (err.kind === 'not_found' || err.kind === 'invalid_input')) {
        throw new DomainError('invalid_state', `cannot resend: ${err.message}`, err.details);
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Approvals

  /** All-or-nothing check, then each approval granted and its activity dispatched. */
  async approve(companyId: string, approvalIds: string[], actor: Actor) {
    const approvals = await this.checkPending(companyId, approvalIds);
    const positions = new Positions();
    const results = [];
    for (const { approvalId, activityId } of approvals) {
      // Per item: a long batch must not stamp its last activities with a time the reconciler finds stale.
      const now = this.deps.now().toISOString();
      const a = await handleCommand(this.deps.store, approvalStream(approvalId), approvalDecider, { type: 'GrantApproval', companyId, by: actorLabel(actor), now }, { metadata: actorMetadata(actor) });
      positions.add(a.position);
      const activity = await ActivityHandle.load(this.deps.store, activityId, actor, positions);
      await activity.apply([{ type: 'ApproveActivity', approvalId, ruleId: null, by: actorLabel(actor), now }]);
      const s = await this.dispatchApproved(activity);
      results.push({ approvalId, activityId, status: s.status, ...(s.error ? { error: s.error } : {}) });
    }
    return { results, position: positions.last };
  }

  async reject(companyId: string, approvalIds: string[], reason: string | null, actor: Actor) {
    const approvals = await this.checkPending(companyId, approvalIds);
    const positions = new Positions();
    const now = this.deps.now().toISOString();
    const results = [];
    for (const { approvalId, activityId } of approvals) {
      const a = await handleCommand(this.deps.store, approvalStream(approvalId), approvalDecider, { type: 'RejectApproval', companyId, by: actorLabel(actor), reason, now }, { metadata: actorMetadata(actor) });
      positions.add(a.position);
      const activity = await ActivityHandle.load(this.deps.store, activityId, actor, positions);
      const s = await activity.apply([{ type: 'RejectActivity', approvalId, by: actorLabel(actor), reason, now }]);
      results.push({ approvalId, activityId, status: s.status });
    }
    return { results, position: positions.last };
  }

  private async checkPending(companyId: string, approvalIds: string[]) {
    const states = await Promise.all(
      approvalIds.map(async (approvalId) => ({ approvalId, state: (await loadAggregate(this.deps.store, approvalStream(approvalId), approvalDecider)).state })),
    );
    const refused = states.filter(({ state }) => state.status !== 'pending' || state.companyId !== companyId).map((s) => s.approvalId);
    if (refused.length > 0) {
      throw new DomainError('conflict', 'some approvals are unknown or not pending; nothing was changed', { approvalIds: refused });
    }
    return states.map(({ approvalId, state }) => ({ approvalId, activityId: state.activityId! }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Reconciliation

  /**
   * Settles an activity left without an outcome past the lease (a crash between reservation and outcome) as
   * `failed` / `dispatch_interrupted`. The quota unit is kept: the provider may have accepted the message,
   * and giving the unit back could let the day's sends exceed the cap. It is never re-sent by the service; a
   * person may resend it (`resend`).
   */
  async settleInterrupted(activityId: string, actor: Actor): Promise<boolean> {
    const now = this.deps.now();
    const interrupted = (state: ActivityState) => {
      if (!['requested', 'approved', 'dispatching'].includes(state.status)) return false;
      const leaseEnd = state.status === 'dispatching' && state.leaseUntil ? Date.parse(state.leaseUntil) : Date.parse(state.updatedAt ?? '') + this.deps.leaseMs;
      return leaseEnd <= now.getTime();
    };
    try {
      const r = await handleCommand(this.deps.store, activityStream(activityId), activityDecider, async (state) => {
        // Decided on the state as it is now, on every attempt: a dispatch that moved on is left alone.
        if (!interrupted(state)) throw new DomainError('conflict', 'not interrupted');
        return {
          type: 'RecordFailed' as const,
          error: { code: 'dispatch_interrupted', message: 'the dispatch was interrupted before an outcome was known; it is not retried' },
          quotaRefunded: false,
          now: now.toISOString(),
        };
      }, { metadata: actorMetadata(actor) });
      return r.events.length > 0;
    } catch (err) {
      if (err instanceof DomainError) return false; // settled or moving on meanwhile
      throw err;
    }
  }
}
