import { SYSTEM_ACTOR } from '../commands/actor.js';
import { suppressRecipient } from '../commands/suppressions.js';
import type { OutboxChannel } from '../domain/channels.js';
import { DomainError } from '../domain/decider.js';
import type { EventStore, Position } from '../eventstore/port.js';

export interface SuppressionNotice {
  companyId: string;
  channel: OutboxChannel;
  recipient: string;
  reason: 'hard_bounce' | 'complaint';
  /** The id of the delivery event that reports it: a replay of the same report suppresses nothing again. */
  cause: string;
}

/**
 * Where a hard bounce or a complaint reported by a webhook feeds the suppression list. Called after the event is
 * recorded, and again when the provider repeats the delivery (or someone replays it): the suppression stream
 * keeps the reports it has taken into account, so a repeat changes nothing, also after a person lifted the
 * suppression; a repeat after a failure between the two writes still suppresses. Returns the position written,
 * for the webhook's read-your-writes.
 */
export type SuppressionHook = (notice: SuppressionNotice) => Promise<Position | null>;

export function suppressFromWebhook(store: EventStore, now: () => Date): SuppressionHook {
  return async (n) => {
    const r = await suppressRecipient(
      store,
      {
        companyId: n.companyId,
        recipient: n.recipient,
        channel: n.channel,
        source: n.reason === 'complaint' ? 'complaint' : 'bounce',
        reason:
          n.reason === 'complaint'
            ? `complaint reported by the ${n.channel} provider`
            : `hard bounce reported by the ${n.channel} provider`,
        createdBy: `webhook:${n.channel}`,
        cause: n.cause,
      },
      now(),
      SYSTEM_ACTOR,
    ).catch((err: unknown) => {
      // A recipient the list cannot hold (malformed) is left recorded on its activity only.
      if (!(err instanceof DomainError)) throw err;
      return null;
    });
    return r?.position ?? null;
  };
}
