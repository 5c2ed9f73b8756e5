import { type ActivityCommand, activityDecider, activityStream, resendActivityId } from '../../domain/activity.js';
import { DomainError } from '../../domain/decider.js';
import type { Position } from '../../eventstore/port.js';
import { type Actor, actorLabel } from '../actor.js';
import { loadAggregate } from '../handle-command.js';
import { Positions } from '../../eventstore/positions.js';
import { ActivityHandle } from './activity-handle.js';
import type { SendContext, SendResult } from './context.js';
import type { Sender } from './send.js';

/**
 * A person's resend of a send whose outcome is unknown (`dispatch_interrupted`, `<channel>_outcome_unknown`):
 * the recipient may or may not have it, and only a person can judge. The decision goes on the original with
 * its exact revision, so it is taken once however many calls race; then the original's request runs through
 * the whole pipeline again (allowlist, suppressions, rules, a new quota unit, the window) as a new activity
 * under an id derived from the original's, without the original's dedup key. A crash between the two appends
 * leaves a decision naming an activity that does not exist: the next resend call completes it (the first
 * append of the derived id is `no_stream`, so completions race safely) rather than refuse it for good.
 */
export async function resend(
  ctx: SendContext,
  sender: Sender,
  companyId: string,
  activityId: string,
  actor: Actor,
): Promise<{ result: SendResult; position: Position | null }> {
  const original = await ActivityHandle.load(ctx.deps.store, activityId, actor, new Positions());
  const request = original.state.request;
  if (!request || request.companyId !== companyId) throw new DomainError('not_found', 'activity not found');
  const resentAs = resendActivityId(activityId);
  const decide: ActivityCommand = { type: 'DecideResend', by: actorLabel(actor), now: ctx.deps.now().toISOString() };
  const decided = original.state.resentAs !== null;
  if (decided) {
    const { state } = await loadAggregate(ctx.deps.store, activityStream(resentAs), activityDecider);
    if (state.status !== 'none') throw new DomainError('conflict', 'this activity was already resent', { activityId, resentAs });
  } else {
    // Refused (422 known outcome, 409) before the pipeline reads anything.
    activityDecider.decide(decide, original.state);
  }
  let recording = false;
  try {
    return await sender.send(
      companyId,
      {
        channel: request.channel,
        outboxId: request.outboxId,
        to: request.to,
        payload: request.payload,
        contentPieceId: request.contentPieceId,
        tags: request.tags,
        clientDedupKey: null,
      },
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
