import { FairSemaphore, defaultShare } from '../concurrency/fair-semaphore.js';
import type { Position } from '../eventstore/port.js';
import { silentLogger } from '../logger.js';
import type { Actor } from './actor.js';
import { AggregateCache } from './aggregate-cache.js';
import { QuotaReserver } from './quota.js';
import { Approvals } from './send/approvals.js';
import type { DispatcherDeps, SendContext, SendOutcome, SendRequest, SendResult } from './send/context.js';
import { activityStream } from '../domain/activity.js';
import { Delivery } from './send/deliver.js';
import { settleInterrupted } from './send/reconcile.js';
import { resend } from './send/resend.js';
import { Sender } from './send/send.js';

export type { DispatcherDeps, SendOutcome, SendRequest, SendResult, SendStatus } from './send/context.js';
export { dedupActivityId } from './send/send.js';

/**
 * The dispatcher: every send, manual or scheduled, goes allowlist -> suppressions -> approval rules -> quota ->
 * adapter, and ends in exactly one status, each step an event on the activity's stream. The use cases live in
 * src/commands/send/ (send.ts, approvals.ts, resend.ts, reconcile.ts, deliver.ts), the policy in
 * src/domain/send-policy.ts; this is where they are wired, and where sends take their turn (fair slots).
 */
export class Dispatcher {
  readonly quota: QuotaReserver;
  private readonly slots: FairSemaphore;
  private readonly ctx: SendContext;
  private readonly delivery: Delivery;
  private readonly sender: Sender;
  private readonly approvals: Approvals;

  constructor(deps: DispatcherDeps) {
    this.quota = new QuotaReserver(deps.store, deps.sharedQuota);
    this.ctx = {
      deps,
      cache: deps.cache ?? new AggregateCache(deps.store),
      quota: this.quota,
      logger: deps.logger ?? silentLogger,
      report: deps.onOutcome ?? (() => {}),
    };
    this.delivery = new Delivery(this.ctx);
    this.sender = new Sender(this.ctx, this.delivery);
    this.approvals = new Approvals(this.ctx, this.delivery);
    this.slots = new FairSemaphore(
      deps.maxConcurrentSends,
      Math.min(deps.maxConcurrentSends, deps.maxSendsPerCompany ?? defaultShare(deps.maxConcurrentSends)),
    );
  }

  async send(companyId: string, req: SendRequest, actor: Actor): Promise<{ result: SendResult; position: Position | null }> {
    const r = await this.slots.run(companyId, () => this.sender.send(companyId, req, actor));
    // A repeat of a dedup key answers the first send's result and appends nothing: not a decision of its own.
    if (r.position) this.reported(companyId, req, r.result, req.dedupScope === 'sequence' ? 'sequence' : 'send', r.reason ?? null);
    return { result: r.result, position: r.position };
  }

  /** A person's resend of a send whose outcome is unknown (src/commands/send/resend.ts). */
  async resend(companyId: string, activityId: string, actor: Actor): Promise<{ result: SendResult; position: Position | null }> {
    const r = await this.slots.run(companyId, () => resend(this.ctx, this.sender, companyId, activityId, actor));
    if (r.position) {
      // The resend's request (its first event) names its channel and outbox, as the original's did.
      const [requested] = await this.ctx.deps.store.readStream(activityStream(r.result.id), { maxCount: 1 });
      if (requested)
        this.reported(
          companyId,
          requested.data as Pick<SendRequest, 'channel' | 'outboxId'>,
          r.result,
          'resend',
          r.result.error?.code ?? null,
        );
    }
    return r;
  }

  private reported(
    companyId: string,
    req: Pick<SendRequest, 'channel' | 'outboxId'>,
    result: SendResult,
    via: SendOutcome['via'],
    reason: string | null,
  ) {
    this.ctx.report({
      companyId,
      activityId: result.id,
      channel: req.channel,
      outboxId: req.outboxId,
      status: result.status,
      reason,
      via,
    });
  }

  approve(companyId: string, approvalIds: string[], actor: Actor) {
    return this.approvals.approve(companyId, approvalIds, actor);
  }

  reject(companyId: string, approvalIds: string[], reason: string | null, actor: Actor) {
    return this.approvals.reject(companyId, approvalIds, reason, actor);
  }

  settleInterrupted(activityId: string, actor: Actor): Promise<boolean> {
    return settleInterrupted(this.ctx, activityId, actor);
  }

  /** Stops retrying outcomes in the background (the reconciler settles what is left) and waits for them. */
  close(): Promise<void> {
    return this.delivery.close();
  }
}
