import { createHash } from 'node:crypto';
import type { ActivityError, DeliveryState, ReplyChoice } from './activity.js';
import type { OutboxChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';

/**
 * One stream per person a company talks to through one provider account: what they sent us and what the
 * provider reported that matched no send. The account is the provider's (the WhatsApp business number, the
 * Instagram professional account, the LinkedIn account), not the outbox: two outboxes on one number share the
 * person's customer-service window, as the provider counts it.
 */
export interface ContactKey {
  companyId: string;
  channel: OutboxChannel;
  /** The provider account: WhatsApp phoneNumberId, Instagram igUserId, Unipile accountId, the email outbox's id. */
  account: string;
  /** The person as the send's `to` names them (E.164 for WhatsApp, the IGSID for Instagram, …). */
  contact: string;
}

/** Recipients can hold characters stream names do not allow, and be long: the key is hashed (the events keep it readable). */
export const contactStream = (k: ContactKey) =>
  `crm_contact-${k.companyId}.${createHash('sha256').update(`${k.channel}\u0000${k.account}\u0000${k.contact}`, 'utf8').digest('hex').slice(0, 40)}`;

type KeyData = ContactKey & Record<string, unknown>;

export type ContactEvent =
  | DomainEvent<
      'ContactMessageReceived',
      KeyData & { at: string; text: string | null; providerEventId: string; activityId: string | null; choice?: ReplyChoice }
    >
  | DomainEvent<
      'ContactDeliveryUnmatched',
      KeyData & { state: DeliveryState; at: string; providerEventId: string; providerMessageId: string | null; error?: ActivityError }
    >;

export interface ContactState {
  /** When the person last wrote to us (the provider's time): what opens the messaging window. */
  lastInboundAt: string | null;
}

export type ContactCommand =
  | {
      type: 'RecordInbound';
      key: ContactKey;
      at: string;
      text: string | null;
      providerEventId: string;
      activityId: string | null;
      choice?: ReplyChoice;
    }
  | {
      type: 'RecordUnmatchedDelivery';
      key: ContactKey;
      state: DeliveryState;
      at: string;
      providerEventId: string;
      providerMessageId: string | null;
      error?: ActivityError;
    };

const later = (a: string | null, b: string) => (a === null || Date.parse(b) > Date.parse(a) ? b : a);

/**
 * Events here are facts the provider reported, so there is no invariant to guard beyond recording each once,
 * which the deterministic event ids do (see src/webhooks/record.ts).
 */
export const contactDecider: Decider<ContactCommand, ContactState, ContactEvent> = {
  initialState: () => ({ lastInboundAt: null }),
  evolve(state, event) {
    switch (event.type) {
      case 'ContactMessageReceived':
        return { lastInboundAt: later(state.lastInboundAt, event.data.at) };
      case 'ContactDeliveryUnmatched':
        return state;
    }
  },
  decide(command) {
    if (Number.isNaN(Date.parse(command.at))) throw new DomainError('invalid_input', 'at is not a time');
    switch (command.type) {
      case 'RecordInbound':
        return [
          {
            type: 'ContactMessageReceived',
            data: {
              ...command.key,
              at: command.at,
              text: command.text,
              providerEventId: command.providerEventId,
              activityId: command.activityId,
              ...(command.choice ? { choice: command.choice } : {}),
            },
          },
        ];
      case 'RecordUnmatchedDelivery':
        return [
          {
            type: 'ContactDeliveryUnmatched',
            data: {
              ...command.key,
              state: command.state,
              at: command.at,
              providerEventId: command.providerEventId,
              providerMessageId: command.providerMessageId,
              ...(command.error ? { error: command.error } : {}),
            },
          },
        ];
    }
  },
};

const HOUR_MS = 3_600_000;

/**
 * Meta's customer-service window: a free-form message may go to someone who wrote within 24 hours; a WhatsApp
 * template may go any time; on Instagram the human-agent tag stretches the window to 7 days. Returns the
 * refusal, or null when the message may go. Pure: `now` comes in.
 */
export function messagingWindowRefusal(
  channel: OutboxChannel,
  payload: Record<string, unknown>,
  lastInboundAt: string | null,
  now: Date,
): ActivityError | null {
  let windowMs: number;
  if (channel === 'whatsapp') {
    if (payload.template !== undefined) return null;
    windowMs = 24 * HOUR_MS;
  } else if (channel === 'instagram') {
    windowMs = payload.humanAgent === true ? 7 * 24 * HOUR_MS : 24 * HOUR_MS;
  } else {
    return null;
  }
  const last = lastInboundAt === null ? Number.NaN : Date.parse(lastInboundAt);
  if (!Number.isNaN(last) && now.getTime() - last < windowMs) return null;
  const days = windowMs / (24 * HOUR_MS);
  return {
    code: `${channel}_window_closed`,
    message: `the recipient has not written in the last ${days === 1 ? '24 hours' : `${days} days`}: ${channel === 'whatsapp' ? 'send an approved template' : 'wait for them to write'}`,
  };
}

/** The provider account a channel's window is counted on, from the outbox config (null: the channel has none). */
export function windowAccount(channel: OutboxChannel, config: Record<string, unknown>): string | null {
  if (channel === 'whatsapp') return typeof config.phoneNumberId === 'string' ? config.phoneNumberId : null;
  if (channel === 'instagram') return typeof config.igUserId === 'string' ? config.igUserId : null;
  return null;
}
