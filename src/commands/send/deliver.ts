import { isBackendDown } from '../../backend-errors.js';
import { ChannelError } from '../../channels/port.js';
import type { ActivityCommand, ActivityState } from '../../domain/activity.js';
import { DomainError } from '../../domain/decider.js';
import { WrongExpectedRevisionError } from '../../eventstore/port.js';
import type { SecretState } from '../../domain/secret.js';
import type { BucketKey } from '../quota.js';
import type { ActivityHandle } from './activity-handle.js';
import type { LiveOutbox, SendContext } from './context.js';
import { credentialOf } from './credential.js';
import { failureOf, forAdapter } from './recipient.js';

/** How long a send waits for the database to record its provider's answer before it replies 503 (ms). */
const RECORD_OUTCOME_INLINE_MS = 3000;

/**
 * The last step of every send: the channel adapter, and the record of what the provider answered. Only this
 * process knows that answer, so its record outlives a database blip (see `recordOutcome`).
 */
export class Delivery {
  private readonly recording = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly ctx: SendContext) {}

  /** Hands a dispatching activity to its channel adapter and records the outcome. */
  async deliver(activity: ActivityHandle, outbox: LiveOutbox, key: BucketKey, secret?: SecretState): Promise<ActivityState> {
    const request = activity.state.request!;
    const now = () => this.ctx.deps.now();
    let sent: { providerMessageId: string | null; recipientAliases?: string[] };
    try {
      const credential = await credentialOf(this.ctx, outbox, activity.id, secret);
      sent = await this.ctx.deps.adapters[outbox.channel].send(forAdapter(outbox), credential, {
        activityId: activity.id,
        to: request.to,
        payload: request.payload,
        idempotencyKey: activity.id,
      });
    } catch (err) {
      const error = failureOf(err);
      // The unit goes back only when the provider surely did not take the message.
      const refund = !(err instanceof ChannelError) || err.refundable;
      if (refund) activity.positions.add((await this.ctx.quota.refund(key, activity.id, now())).position);
      return this.recordOutcome(activity, { type: 'RecordFailed', error, quotaRefunded: refund, now: now().toISOString() });
    }
    // Sent. If this record cannot be written, nothing is refunded or re-sent.
    return this.recordOutcome(activity, {
      type: 'RecordSent',
      providerMessageId: sent.providerMessageId,
      recipientAliases: sent.recipientAliases,
      now: now().toISOString(),
    });
  }

  /**
   * Records what the provider answered. Only this process knows it: lost, the activity would be settled as
   * interrupted, and a person might resend to a recipient who got the message. So a database blip (a restart,
   * a terminated connection, a run of conflicting writers) is ridden out: retried for a moment before the caller hears a 503, then in the
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
        // Writers that kept appending first (the command loop gave up after its attempts) are ridden out as a blip is:
        // the outcome must not be lost to them either.
        if (!(isBackendDown(err) || err instanceof WrongExpectedRevisionError) || this.closed) throw err;
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
}
