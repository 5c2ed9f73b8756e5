import { createHash, randomUUID } from 'node:crypto';
import { outgoingMessage } from '../../channels/outgoing.js';
import {
  type ActivityCommand,
  type ActivityError,
  type ActivityRequest,
  type ActivityState,
  ANSWERABLE,
  activityDecider,
  activityStream,
} from '../../domain/activity.js';
import { type AllowlistState, allowlistDecider, allowlistStream } from '../../domain/allowlist.js';
import { type ApprovalRulesState, approvalRulesDecider, approvalRulesStream } from '../../domain/approval-rules.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import { contentPieceDecider, contentPieceStream } from '../../domain/content-piece.js';
import { DomainError } from '../../domain/decider.js';
import { derivedUuid } from '../../domain/derived-id.js';
import { type OutboxState, outboxDecider, outboxStream } from '../../domain/outbox.js';
import { canonicalRecipient, recipientKeys } from '../../domain/recipients.js';
import { type SecretState, secretDecider, secretStream } from '../../domain/secret.js';
import { afterReservation, decideSend } from '../../domain/send-policy.js';
import { suppressedBy, suppressionDecider, suppressionStreamsFor } from '../../domain/suppression.js';
import { type Position, WrongExpectedRevisionError } from '../../eventstore/port.js';
import { type Actor, actorLabel } from '../actor.js';
import { approval } from '../approvals.js';
import { loadAggregate } from '../handle-command.js';
import { windowRefusal } from '../messaging-window.js';
import { Positions } from '../../eventstore/positions.js';
import { ActivityHandle } from './activity-handle.js';
import { type LiveOutbox, type SendContext, type SendRequest, type SendResult, liveOutbox } from './context.js';
import { secretIdOf } from './credential.js';
import type { Delivery } from './deliver.js';
import { type LoadedSuppressions, resolveRecipient, resolvesRecipients, suppressionsOf } from './recipient.js';

/** How a resend enters the send pipeline (see resend.ts). */
export interface ResendPlan {
  activityId: string;
  resendOf: string;
  /** Records the person's decision on the original; called once every check that writes nothing has passed. */
  recordDecision: () => Promise<Position | null>;
}

/** A dedup key names one activity, deterministically (a UUID made from the company and the key). */
export function dedupActivityId(companyId: string, key: string): string {
  return derivedUuid(companyId, key);
}

export const resultOf = (id: string, s: ActivityState): SendResult => ({
  id,
  status: s.status as SendResult['status'],
  ...(s.approvalId ? { approvalId: s.approvalId } : {}),
  ...(s.error ? { error: s.error } : {}),
  // A quota block: which limit refused the send, and when it takes one more.
  ...(s.status === 'blocked_by_quota' && s.quotaBlock ? { limit: s.quotaBlock.limit, retryAt: s.quotaBlock.retryAt } : {}),
  ...(s.request?.resendOf ? { resendOf: s.request.resendOf } : {}),
  ...(s.resentAs ? { resentAs: s.resentAs } : {}),
});

/** Everything a send's decisions read, caught up in one query (see `loadFacts`). */
interface SendFacts {
  outbox: LiveOutbox;
  allowlist: AllowlistState;
  rules: ApprovalRulesState;
  suppressions: LoadedSuppressions;
  /** The outbox's credential, when it was read with the rest. */
  secret?: SecretState;
}

/**
 * A send, as it runs: the dedup key's earlier answer; the facts; the message checked by its channel; the recipient
 * resolved (LinkedIn); the request; the send policy's decision; an approval or a quota unit; one append of the
 * request with its decisions; then the adapter. Each step an event on the activity's stream.
 */
export class Sender {
  constructor(
    private readonly ctx: SendContext,
    private readonly delivery: Delivery,
  ) {}

  async send(
    companyId: string,
    req: SendRequest,
    actor: Actor,
    resend?: ResendPlan,
  ): Promise<{ result: SendResult; position: Position | null; /** Why it did not go (a new decision only). */ reason?: string | null }> {
    const { deps, cache } = this.ctx;
    const positions = new Positions();
    const now = deps.now();
    const iso = now.toISOString();
    const tags = [...new Set(req.tags ?? [])].sort();
    const requestHash = createHash('sha256')
      .update(
        canonicalJson({
          channel: req.channel,
          outboxId: req.outboxId,
          to: req.to,
          payload: req.payload,
          contentPieceId: req.contentPieceId ?? null,
          tags,
        }),
      )
      .digest('hex');
    const activityId =
      resend?.activityId ??
      (req.clientDedupKey
        ? req.dedupScope
          ? derivedUuid(companyId, req.dedupScope, req.clientDedupKey)
          : dedupActivityId(companyId, req.clientDedupKey)
        : randomUUID());

    if (req.clientDedupKey) {
      const existing = await this.existing(activityId, requestHash);
      if (existing) return { result: existing, position: null };
    }

    const facts = await this.loadFacts(companyId, req);
    const { outbox } = facts;
    const message = outgoingMessage(outbox.channel, req.to, req.payload);
    let to = message.to;
    let suppressions = await suppressionsOf(cache, companyId, recipientKeys(outbox.channel, to), outbox.channel, facts.suppressions);
    // A recipient with several names (LinkedIn) is looked up before the checks, so that every name is checked;
    // not for a dry run (it reaches no provider), nor when a name given is suppressed already.
    let recipientAliases: string[] | undefined;
    let unresolved: ActivityError | null = null;
    if (req.channel !== 'dry-run' && resolvesRecipients(this.ctx, outbox) && !suppressedBy(suppressions, outbox.channel)) {
      const resolved = await resolveRecipient(this.ctx, outbox, to, activityId, facts.secret);
      if ('error' in resolved) unresolved = resolved.error;
      else {
        ({ to, aliases: recipientAliases } = resolved);
        suppressions = await suppressionsOf(
          cache,
          companyId,
          recipientKeys(outbox.channel, to, recipientAliases),
          outbox.channel,
          facts.suppressions,
        );
      }
    }
    let niche = outbox.niche;
    let allTags = tags;
    if (req.contentPieceId) {
      const [piece] = await cache.load([{ streamName: contentPieceStream(req.contentPieceId), decider: contentPieceDecider }] as const);
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
      payload: message.payload,
      contentPieceId: req.contentPieceId ?? null,
      niche,
      tags: allTags,
      clientDedupKey: req.clientDedupKey ?? null,
      requestHash,
      requestedBy: actorLabel(actor),
      requestedAt: iso,
      ...(resend ? { resendOf: resend.resendOf } : {}),
    };

    const decision = decideSend(
      {
        channel: outbox.channel,
        dryRun: req.channel === 'dry-run',
        keys: recipientKeys(outbox.channel, to, recipientAliases),
        niche,
        tags: allTags,
        approvedByPerson: false,
        needsPerson: actor.kind === 'agent' && message.needsPerson,
        approvalId: randomUUID(),
        quota: outbox,
        now,
      },
      {
        allowlist: facts.allowlist,
        suppressions,
        rules: facts.rules,
        unresolved,
        windowClosed: await windowRefusal(cache, request, outbox, now),
      },
    );
    // The request and the decisions go in one append (the one that claims a dedup key).
    const steps: ActivityCommand[] = [{ type: 'RequestActivity', request }, ...decision.commands];
    const { next } = decision;

    // Last of the checks that write nothing: a resend refused by them (its outbox is gone) records no decision.
    if (resend) positions.add(await resend.recordDecision());
    if (next.kind === 'approval') {
      // The approval exists before the activity names it, so a pending activity always has its approval.
      const data = {
        approvalId: next.approvalId,
        activityId,
        companyId,
        outboxId: outbox.outboxId,
        channel: outbox.channel,
        to: request.to,
        ruleId: next.ruleId,
        at: iso,
        payload: request.payload,
      };
      const a = await approval(deps.store, next.approvalId, { actor, now }, () => ({ type: 'RequestApproval', data }));
      positions.add(a.position);
    }
    // An auto-approved send reserves its unit first, so that the request, its approval and the start of its
    // dispatch (or its quota block) are one append. A crash between the two leaves the unit held by an
    // activity that never existed: the day's cap shrinks by one, and is never exceeded.
    let reserved = false;
    // The day the unit was taken on (the claim's, or the next when that one was closed): where a refund goes.
    let bucket = next.kind === 'reserve' ? next.bucket : null;
    if (next.kind === 'reserve') {
      // This outbox's own cap and limits, tightened by the reserver to those of the outboxes sharing the
      // credential (the outbox's own hold in case the read model lags).
      const r = await this.ctx.quota.reserve(next.bucket, activityId, next.cap, now, next.limits);
      positions.add(r.position);
      reserved = r.reserved;
      bucket = { ...next.bucket, day: r.day };
      steps.push(...afterReservation(next, r, now, deps.leaseMs));
    }
    const activity = new ActivityHandle(activityId, activityDecider.initialState(), null, deps.store, actor, positions);
    try {
      await activity.apply(steps, { retryOnConflict: false });
    } catch (err) {
      // Nothing will be sent for this request: its unit goes back (even if the append did commit after all,
      // the reconciler then settles that activity without sending). Not under a dedup key: the activity id,
      // and with it the unit, is shared with the request that won, or with a retry that will use it.
      if (bucket && reserved && !req.clientDedupKey && !resend)
        positions.add((await this.ctx.quota.refund(bucket, activityId, deps.now())).position);
      const approvalId = next.kind === 'approval' ? next.approvalId : null;
      if (resend && err instanceof WrongExpectedRevisionError) {
        // Another call completed the same resend first (same derived id, same unit): it goes on, this one is a 409.
        if (approvalId) await this.dropOrphanApproval(companyId, approvalId, actor);
        throw new DomainError('conflict', 'this activity was already resent', { activityId: resend.resendOf, resentAs: activityId });
      }
      // The same dedup key, concurrently: the first request goes on, this one answers with its result.
      if (!(err instanceof WrongExpectedRevisionError) || !req.clientDedupKey) throw err;
      if (approvalId) await this.dropOrphanApproval(companyId, approvalId, actor);
      const existing = await this.existing(activityId, requestHash);
      if (existing) return { result: existing, position: null };
      throw err;
    }
    const s =
      activity.state.status === 'dispatching' && bucket
        ? await this.delivery.deliver(activity, outbox, bucket, facts.secret)
        : activity.state;
    // Why it did not go, for the dispatcher's report (a block's reason is not part of the reply).
    const block = steps.find((c) => c.type === 'BlockActivity');
    const reason = block?.type === 'BlockActivity' ? block.reason : (s.error?.code ?? null);
    return { result: resultOf(activityId, s), position: positions.last, reason };
  }

  /**
   * The outbox, allowlist, rules, the recipient's suppressions and the outbox's credential, caught up in one
   * query. The suppressions' streams need the channel and the credential's the outbox: both are taken from the
   * outbox as last cached (a dry run's channel is its outbox's), which is right but for an outbox changed since;
   * whatever the guess missed is read after (`suppressionsOf`, `credentialOf`).
   */
  private async loadFacts(companyId: string, req: SendRequest): Promise<SendFacts> {
    const peeked = this.ctx.cache.peek<OutboxState>(outboxStream(req.outboxId));
    const credentialGuess = secretIdOf(peeked);
    const channelGuess = req.channel !== 'dry-run' ? req.channel : peeked?.status === 'active' ? peeked.fields.channel : null;
    const toGuess = channelGuess ? canonicalRecipient(channelGuess, req.to) : null;
    const suppressionStreams =
      toGuess && channelGuess ? suppressionStreamsFor(companyId, recipientKeys(channelGuess, toGuess), channelGuess) : [];
    const [outboxState, allowlist, rules, ...rest] = (await this.ctx.cache.load([
      { streamName: outboxStream(req.outboxId), decider: outboxDecider },
      { streamName: allowlistStream(companyId), decider: allowlistDecider },
      { streamName: approvalRulesStream(companyId), decider: approvalRulesDecider },
      ...suppressionStreams.map((streamName) => ({ streamName, decider: suppressionDecider })),
      ...(credentialGuess ? [{ streamName: secretStream(credentialGuess), decider: secretDecider }] : []),
    ])) as [OutboxState, AllowlistState, ApprovalRulesState, ...unknown[]];
    const outbox = liveOutbox(outboxState, companyId, req.outboxId);
    if (!outbox) throw new DomainError('not_found', 'outbox not found');
    if (req.channel !== 'dry-run' && req.channel !== outbox.channel) {
      throw new DomainError('invalid_state', `channel ${req.channel} does not match the outbox's channel ${outbox.channel}`);
    }
    const suppressions: LoadedSuppressions = new Map(suppressionStreams.map((s, i) => [s, rest[i] as never]));
    // The credential read with the rest, when the guess named the outbox's actual secret.
    const secret = credentialGuess === secretIdOf(outboxState) ? (rest[suppressionStreams.length] as SecretState | undefined) : undefined;
    return { outbox, allowlist, rules, suppressions, ...(secret ? { secret } : {}) };
  }

  /** An approval made for a request that lost a dedup race names no activity of its own: close it. */
  private async dropOrphanApproval(companyId: string, approvalId: string, actor: Actor) {
    const reason = 'duplicate request (clientDedupKey)';
    await approval(this.ctx.deps.store, approvalId, { actor, now: this.ctx.deps.now() }, (s) => ({
      type: 'RejectApproval',
      companyId,
      by: s.by,
      reason,
      now: s.now,
    })).catch(() => {});
  }

  /**
   * The first result of a dedup key, once it has one (or, once a person resent it, its resend's); a different
   * request under the same key is a 409.
   */
  private async existing(activityId: string, requestHash: string): Promise<SendResult | null> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { state } = await loadAggregate(this.ctx.deps.store, activityStream(activityId), activityDecider);
      if (state.status === 'none') return null;
      if (state.request!.requestHash !== requestHash) {
        throw new DomainError('conflict', 'clientDedupKey was already used for a different request', { activityId });
      }
      if (ANSWERABLE.has(state.status))
        return state.resentAs ? this.latestResend(activityId, state, deadline) : resultOf(activityId, state);
      if (Date.now() > deadline)
        throw new DomainError('conflict', 'the first request with this clientDedupKey is still in progress; retry later', { activityId });
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Follows the resends people made of a send (a resend may be resent in turn) to the latest one's result. */
  private async latestResend(id: string, state: ActivityState, deadline: number): Promise<SendResult> {
    while (state.resentAs) {
      const next = (await loadAggregate(this.ctx.deps.store, activityStream(state.resentAs), activityDecider)).state;
      // Decided but not started, or cut short by a crash until a resend call completes it: this send's own
      // answer, which names the resend to come.
      if (next.status === 'none') break;
      if (ANSWERABLE.has(next.status)) {
        id = state.resentAs;
        state = next;
        continue;
      }
      if (Date.now() > deadline)
        throw new DomainError('conflict', "the resend of this clientDedupKey's send is still in progress; retry later", {
          activityId: state.resentAs,
        });
      await new Promise((r) => setTimeout(r, 25));
    }
    return resultOf(id, state);
  }
}
