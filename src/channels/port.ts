import type { ActivityError } from '../domain/activity.js';
import type { OutboxChannel } from '../domain/channels.js';

export interface OutboxForAdapter {
  outboxId: string;
  companyId: string;
  channel: OutboxChannel;
  config: Record<string, unknown>;
}

export interface OutgoingMessage {
  activityId: string;
  to: string;
  payload: Record<string, unknown>;
  /** Stable per activity: providers that deduplicate get it. */
  idempotencyKey: string;
  /** The recipient's one-click unsubscribe link (RFC 8058); email sets the List-Unsubscribe headers from it. */
  unsubscribeUrl?: string;
}

/**
 * A channel adapter: delivers one message with the credential's secret value. Throws `ChannelError` when the
 * provider refuses or cannot be reached; the message carries no secret.
 */
export interface ChannelAdapter {
  /**
   * `recipientAliases`: the recipient's names the provider gave while sending (a LinkedIn member id looked up
   * from a profile URL), recorded on the send so that webhooks naming the recipient by them find it.
   */
  send(
    outbox: OutboxForAdapter,
    credential: string,
    message: OutgoingMessage,
  ): Promise<{ providerMessageId: string | null; recipientAliases?: string[] }>;
  /**
   * For a channel whose recipients have several names (LinkedIn: a member id, a profile URL), asks the provider
   * which member a canonical `to` is, before any check: `to` is then the id the provider sends to, and `aliases`
   * the member's other names (recipient keys), all of which the allowlist and the suppressions see. A read:
   * nothing is sent. Throws `ChannelError` when the provider does not know the recipient or cannot be reached.
   */
  resolveRecipient?(outbox: OutboxForAdapter, credential: string, to: string): Promise<{ to: string; aliases: string[] }>;
}

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    /** e.g. `smtp_550`, `130429`: shown to the client in the activity's error. */
    readonly code: string,
    message: string,
    /** A transient error may succeed later; a permanent one will not. */
    readonly transient: boolean = false,
    /** False when the provider may have taken the message anyway (a timeout after it was handed over). */
    readonly refundable: boolean = true,
    /** The recipient does not exist or will never accept mail (a hard bounce): it is suppressed. */
    readonly hardBounce: boolean = false,
    /** The provider's own words and sub-code, kept on the activity's error (never a credential). */
    readonly details: Pick<ActivityError, 'providerReply' | 'enhancedStatus'> = {},
  ) {
    super(message);
  }
}

export type ChannelAdapters = Record<OutboxChannel, ChannelAdapter>;
