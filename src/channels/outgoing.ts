import type { OutboxChannel } from '../domain/channels.js';
import { DomainError } from '../domain/decider.js';
import { RECIPIENT_FORMS, canonicalRecipient } from '../domain/recipients.js';
import { bookingFor } from './cal-com.js';
import { needsPersonOnInstagram } from './instagram.js';
import { SEND_PAYLOAD } from './schemas.js';

/** A message as its channel will take it: the recipient, the payload to send, whether a person must approve it. */
export interface OutgoingPayload {
  /** As the channel spells it (src/domain/recipients.ts): the checks, the activity and the adapter all use it. */
  to: string;
  payload: Record<string, unknown>;
  /** The channel reserves this message for a person (an agent's waits for a person's approval). */
  needsPerson: boolean;
}

/**
 * What each channel requires of a message beyond its payload's shape, given the canonical recipient. The
 * dispatcher knows nothing of channels: it asks here, before anything is written.
 */
const CHANNEL_RULES: Partial<Record<OutboxChannel, (payload: Record<string, unknown>, to: string) => Omit<OutgoingPayload, 'to'>>> = {
  'cal-com': (payload, to) => {
    const booking = bookingFor(payload, to);
    if (!booking)
      throw new DomainError('invalid_input', 'payload.attendee.email must be the recipient (to)', [
        { code: 'custom', path: ['payload', 'attendee', 'email'], message: 'must equal to' },
      ]);
    return { payload: booking, needsPerson: false };
  },
  instagram: (payload) => ({ payload, needsPerson: needsPersonOnInstagram(payload) }),
};

/**
 * The recipient as its channel spells it, computed once; any other spelling is a 400 before anything is written.
 */
export function canonicalTo(channel: OutboxChannel, to: string): string {
  const canonical = canonicalRecipient(channel, to);
  if (canonical === null)
    throw new DomainError('invalid_input', `to is not a valid ${channel} recipient`, [
      { code: 'custom', path: ['to'], message: `must be ${RECIPIENT_FORMS[channel]}` },
    ]);
  return canonical;
}

/**
 * The payload's shape for its channel (src/channels/schemas.ts), or a 400 naming each field under `at` (where the
 * payload sits in the request: `payload` for a send, `steps.<i>.payload` for a sequence's step).
 */
export function channelPayload(channel: OutboxChannel, payload: unknown, at: (string | number)[] = ['payload']): Record<string, unknown> {
  const parsed = SEND_PAYLOAD[channel].safeParse(payload);
  if (!parsed.success) {
    throw new DomainError(
      'invalid_input',
      `${at.join('.')} is not a valid ${channel} payload`,
      parsed.error.issues.map(({ code, path, message }) => ({ code, path: [...at, ...path], message })),
    );
  }
  return parsed.data as Record<string, unknown>;
}

/**
 * A message checked against its channel: the payload's shape, the recipient's form, then the channel's own rules
 * (a 400 naming the field, before anything is written).
 */
export function outgoingMessage(channel: OutboxChannel, to: string, payload: unknown): OutgoingPayload {
  const data = channelPayload(channel, payload);
  const canonical = canonicalTo(channel, to);
  return { to: canonical, ...(CHANNEL_RULES[channel]?.(data, canonical) ?? { payload: data, needsPerson: false }) };
}
