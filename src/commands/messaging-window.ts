import type { ActivityError, ActivityRequest } from '../domain/activity.js';
import type { OutboxChannel } from '../domain/channels.js';
import { contactDecider, contactStream, messagingWindowRefusal, windowAccount } from '../domain/contact.js';
import type { AggregateCache } from './aggregate-cache.js';

/**
 * Why a send must not go because the recipient's messaging window is closed (WhatsApp, Instagram), or null.
 * Read from the cache (one catch-up query), decided by a pure function: cheap enough for every send.
 */
export async function windowRefusal(
  cache: AggregateCache,
  request: ActivityRequest,
  outbox: { channel: OutboxChannel; config: Record<string, unknown> },
  now: Date,
): Promise<ActivityError | null> {
  const account = windowAccount(outbox.channel, outbox.config);
  if (account === null) return null;
  // What may go even to someone who never wrote (a WhatsApp template) needs no read.
  if (messagingWindowRefusal(outbox.channel, request.payload, null, now) === null) return null;
  const [contact] = await cache.load([
    {
      streamName: contactStream({ companyId: request.companyId, channel: outbox.channel, account, contact: request.to }),
      decider: contactDecider,
    },
  ] as const);
  return messagingWindowRefusal(outbox.channel, request.payload, contact.lastInboundAt, now);
}
