import { type ChannelAdapter, type ChannelAdapters, ChannelError } from '../channels/port.js';
import { suppressionKey } from '../domain/recipients.js';
import type { OutboxChannel } from '../domain/channels.js';
import type { EventStore } from '../eventstore/port.js';
import type { Logger } from '../logger.js';
import type { UnsubscribeTokens } from '../secrets/unsubscribe-token.js';
import { suppressRecipient } from './suppressions.js';

export interface SuppressionAdapterDeps {
  store: EventStore;
  now: () => Date;
  logger: Logger;
  tokens: UnsubscribeTokens;
  /** Base URL recipients reach the service at, without a trailing slash. */
  publicUrl: string;
}

/** Channels whose messages carry a one-click unsubscribe link. */
const UNSUBSCRIBE_CHANNELS: ReadonlySet<OutboxChannel> = new Set(['email']);

/**
 * Ties the channel adapters to the suppression list, around the dispatcher rather than inside it: each email
 * gets its recipient's unsubscribe link, and a hard bounce suppresses the recipient on that channel. The
 * dispatcher stays channel-agnostic, and every caller of an adapter gets both.
 */
export function withSuppressions(adapters: ChannelAdapters, deps: SuppressionAdapterDeps): ChannelAdapters {
  const wrap = (channel: OutboxChannel, adapter: ChannelAdapter): ChannelAdapter => ({
    ...(adapter.resolveRecipient ? { resolveRecipient: adapter.resolveRecipient.bind(adapter) } : {}),
    async send(outbox, credential, message) {
      const unsubscribeUrl = UNSUBSCRIBE_CHANNELS.has(channel)
        ? `${deps.publicUrl}/unsubscribe/${deps.tokens.issue({ companyId: outbox.companyId, recipient: suppressionKey(message.to, channel, true) ?? message.to, channel })}`
        : undefined;
      try {
        return await adapter.send(outbox, credential, unsubscribeUrl ? { ...message, unsubscribeUrl } : message);
      } catch (err) {
        if (err instanceof ChannelError && err.hardBounce) await recordBounce(deps, outbox.companyId, channel, message.to, err.code);
        throw err;
      }
    },
  });
  return Object.fromEntries(
    Object.entries(adapters).map(([channel, adapter]) => [channel, wrap(channel as OutboxChannel, adapter)]),
  ) as ChannelAdapters;
}

/**
 * Awaited before the failure is reported, so the next send to that address is already blocked. A failure to
 * record is logged and swallowed: the send's own outcome (failed, refunded) must not change because of it.
 */
async function recordBounce(deps: SuppressionAdapterDeps, companyId: string, channel: OutboxChannel, to: string, code: string) {
  try {
    await suppressRecipient(
      deps.store,
      { companyId, recipient: to, channel, source: 'bounce', reason: code, createdBy: `${channel}:bounce` },
      deps.now(),
    );
  } catch (err) {
    deps.logger.warn('a hard bounce could not be recorded as a suppression', { companyId, code, error: (err as Error)?.name ?? 'unknown' });
  }
}
