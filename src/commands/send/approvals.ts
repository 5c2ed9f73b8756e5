import type { ActivityError, ActivityState } from '../../domain/activity.js';
import { type AllowlistState, allowlistDecider, allowlistStream } from '../../domain/allowlist.js';
import { approvalDecider, approvalStream } from '../../domain/approval.js';
import { approvalRulesDecider } from '../../domain/approval-rules.js';
import type { OutboxChannel } from '../../domain/channels.js';
import { DomainError } from '../../domain/decider.js';
import { type OutboxState, outboxDecider, outboxStream } from '../../domain/outbox.js';
import { canonicalRecipient, recipientKeys } from '../../domain/recipients.js';
import { afterReservation, decideSend } from '../../domain/send-policy.js';
import { type SuppressionState, suppressionDecider, suppressionStreamsFor } from '../../domain/suppression.js';
import { type Actor, actorLabel } from '../actor.js';
import { approval } from '../approvals.js';
import { loadAggregate } from '../handle-command.js';
import { windowRefusal } from '../messaging-window.js';
import { Positions } from '../../eventstore/positions.js';
import { ActivityHandle } from './activity-handle.js';
import { type SendContext, liveOutbox } from './context.js';
import type { Delivery } from './deliver.js';
import { resolveRecipient, resolvesRecipients, suppressionsOf } from './recipient.js';

/**
 * A person's decisions on sends that wait for one: approved, each goes on through the rest of the pipeline;
 * rejected, it ends there. A batch is all-or-nothing: every approval must be pending, else nothing changes.
 */
export class Approvals {
  constructor(
    private readonly ctx: SendContext,
    private readonly delivery: Delivery,
  ) {}

  /** All-or-nothing check, then each approval granted and its activity dispatched. */
  async approve(companyId: string, approvalIds: string[], actor: Actor) {
    const approvals = await this.checkPending(companyId, approvalIds);
    const positions = new Positions();
    const results = [];
    for (const { approvalId, activityId } of approvals) {
      // Per item: a long batch must not stamp its last activities with a time the reconciler finds stale.
      const at = this.ctx.deps.now();
      const now = at.toISOString();
      const a = await approval(this.ctx.deps.store, approvalId, { actor, now: at }, (s) => ({
        type: 'GrantApproval',
        companyId,
        by: s.by,
        now: s.now,
      }));
      positions.add(a.position);
      const activity = await ActivityHandle.load(this.ctx.deps.store, activityId, actor, positions);
      await activity.apply([{ type: 'ApproveActivity', approvalId, ruleId: null, by: actorLabel(actor), now }]);
      const s = await this.dispatchApproved(activity);
      this.report(companyId, activity, s.status, s.error?.code ?? null, 'approval');
      results.push({ approvalId, activityId, status: s.status, ...(s.error ? { error: s.error } : {}) });
    }
    return { results, position: positions.last };
  }

  async reject(companyId: string, approvalIds: string[], reason: string | null, actor: Actor) {
    const approvals = await this.checkPending(companyId, approvalIds);
    const positions = new Positions();
    const at = this.ctx.deps.now();
    const now = at.toISOString();
    const results = [];
    for (const { approvalId, activityId } of approvals) {
      const a = await approval(this.ctx.deps.store, approvalId, { actor, now: at }, (s) => ({
        type: 'RejectApproval',
        companyId,
        by: s.by,
        reason,
        now: s.now,
      }));
      positions.add(a.position);
      const activity = await ActivityHandle.load(this.ctx.deps.store, activityId, actor, positions);
      const s = await activity.apply([{ type: 'RejectActivity', approvalId, by: actorLabel(actor), reason, now }]);
      this.report(companyId, activity, s.status, null, 'rejection');
      results.push({ approvalId, activityId, status: s.status });
    }
    return { results, position: positions.last };
  }

  private report(companyId: string, activity: ActivityHandle, status: string, reason: string | null, via: 'approval' | 'rejection') {
    const request = activity.state.request;
    this.ctx.report({
      companyId,
      activityId: activity.id,
      channel: request?.channel ?? 'unknown',
      outboxId: request?.outboxId ?? 'unknown',
      status,
      reason,
      via,
    });
  }

  private async checkPending(companyId: string, approvalIds: string[]) {
    const states = await Promise.all(
      approvalIds.map(async (approvalId) => ({
        approvalId,
        state: (await loadAggregate(this.ctx.deps.store, approvalStream(approvalId), approvalDecider)).state,
      })),
    );
    const refused = states.filter(({ state }) => state.status !== 'pending' || state.companyId !== companyId).map((s) => s.approvalId);
    if (refused.length > 0) {
      throw new DomainError('conflict', 'some approvals are unknown or not pending; nothing was changed', { approvalIds: refused });
    }
    return states.map(({ approvalId, state }) => ({ approvalId, activityId: state.activityId! }));
  }

  /**
   * The rest of the pipeline for an activity approved by a person, maybe long after the request: the send policy
   * again on the facts as they are now (the entry that allowed the recipient may be gone, the recipient may have
   * unsubscribed or bounced, the window may have closed), then quota and the channel adapter.
   */
  private async dispatchApproved(activity: ActivityHandle): Promise<ActivityState> {
    const { cache, deps } = this.ctx;
    const request = activity.state.request!;
    const now = deps.now();
    const channel = request.outboxChannel as OutboxChannel;
    // `to` is canonical, unless the send was requested before recipients were (then null: no recipient).
    const to = canonicalRecipient(channel, request.to);
    let keys = to === null ? [] : recipientKeys(channel, to, request.recipientAliases);
    const suppressionStreams = suppressionStreamsFor(request.companyId, keys, channel);
    const [outboxState, allowlist, ...loaded] = (await cache.load([
      { streamName: outboxStream(request.outboxId), decider: outboxDecider },
      { streamName: allowlistStream(request.companyId), decider: allowlistDecider },
      ...suppressionStreams.map((streamName) => ({ streamName, decider: suppressionDecider })),
    ])) as [OutboxState, AllowlistState, ...SuppressionState[]];
    const outbox = liveOutbox(outboxState, request.companyId, request.outboxId);
    if (!outbox) {
      return activity.apply([
        {
          type: 'RecordFailed',
          error: { code: 'outbox_deleted', message: 'the outbox was deleted' },
          quotaRefunded: false,
          now: now.toISOString(),
        },
      ]);
    }
    let suppressions = loaded;
    let unresolved: ActivityError | null = null;
    if (to !== null && request.recipientAliases === undefined && resolvesRecipients(this.ctx, outbox)) {
      // Requested before recipients were resolved: which member it is, now.
      const resolved = await resolveRecipient(this.ctx, outbox, to, activity.id);
      if ('error' in resolved) unresolved = resolved.error;
      else {
        keys = recipientKeys(channel, resolved.to, resolved.aliases);
        suppressions = await suppressionsOf(
          cache,
          request.companyId,
          keys,
          channel,
          new Map(suppressionStreams.map((st, i) => [st, loaded[i]!])),
        );
      }
    }
    const decision = decideSend(
      {
        channel: outbox.channel,
        dryRun: false,
        keys,
        niche: request.niche,
        tags: request.tags,
        approvedByPerson: true,
        needsPerson: false,
        approvalId: '',
        quota: outbox,
        now,
      },
      // The rules were asked when the send was requested; a person's approval stands in for them now.
      {
        allowlist,
        suppressions,
        rules: approvalRulesDecider.initialState(),
        unresolved,
        windowClosed: await windowRefusal(cache, request, outbox, now),
      },
    );
    if (decision.next.kind !== 'reserve') return activity.apply(decision.commands);
    const claim = decision.next;
    const r = await this.ctx.quota.reserve(claim.bucket, activity.id, claim.cap, now, claim.limits);
    activity.positions.add(r.position);
    const s = await activity.apply(afterReservation(claim, r, now, deps.leaseMs));
    return s.status === 'dispatching' ? this.delivery.deliver(activity, outbox, { ...claim.bucket, day: r.day }) : s;
  }
}
