import { type ActivityState, activityDecider, activityStream } from '../../domain/activity.js';
import { DomainError } from '../../domain/decider.js';
import { type Actor, actorMetadata } from '../actor.js';
import { handleCommand } from '../handle-command.js';
import type { SendContext } from './context.js';

/**
 * Settles an activity left without an outcome past the lease (a crash between reservation and outcome) as
 * `failed` / `dispatch_interrupted`. The quota unit is kept: the provider may have accepted the message,
 * and giving the unit back could let the day's sends exceed the cap. It is never re-sent by the service; a
 * person may resend it (resend.ts).
 */
export async function settleInterrupted(ctx: SendContext, activityId: string, actor: Actor): Promise<boolean> {
  const now = ctx.deps.now();
  const interrupted = (state: ActivityState) => {
    if (!['requested', 'approved', 'dispatching'].includes(state.status)) return false;
    const leaseEnd =
      state.status === 'dispatching' && state.leaseUntil
        ? Date.parse(state.leaseUntil)
        : Date.parse(state.updatedAt ?? '') + ctx.deps.leaseMs;
    return leaseEnd <= now.getTime();
  };
  try {
    const r = await handleCommand(
      ctx.deps.store,
      activityStream(activityId),
      activityDecider,
      async (state) => {
        // Decided on the state as it is now, on every attempt: a dispatch that moved on is left alone.
        if (!interrupted(state)) throw new DomainError('conflict', 'not interrupted');
        return {
          type: 'RecordFailed' as const,
          error: { code: 'dispatch_interrupted', message: 'the dispatch was interrupted before an outcome was known; it is not retried' },
          quotaRefunded: false,
          now: now.toISOString(),
        };
      },
      { metadata: actorMetadata(actor) },
    );
    return r.events.length > 0;
  } catch (err) {
    if (err instanceof DomainError) return false; // settled or moving on meanwhile
    throw err;
  }
}
