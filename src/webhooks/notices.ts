import type { ActivityError, DeliveryState, ReplyChoice } from '../domain/activity.js';
import { unstorableString } from '../eventstore/port.js';

/**
 * What a provider's webhook told us, in one shape for every provider: the parsers (one module per provider)
 * produce these, `record.ts` matches them to activities and contacts.
 */
export type InboundNotice =
  | {
      kind: 'delivery';
      /** Stable across the provider's retries: the event is recorded once. */
      providerEventId: string;
      /** Ids the sent message may be stored under (first match wins); empty when the provider names none. */
      providerMessageIds: string[];
      /** The id the provider knows the message by from now on (a rescheduled booking's new uid), when it changed. */
      newProviderMessageId?: string;
      state: DeliveryState;
      at: string;
      /** The provider account the event belongs to, when the payload says (else the outbox's). */
      account: string | null;
      /** The person, in the forms the send's `to` may have used (for an event naming no message). */
      recipients: string[];
      error?: ActivityError;
      /** Feeds the suppression list (a hard bounce, a complaint). */
      suppress?: 'hard_bounce' | 'complaint';
    }
  | {
      kind: 'message';
      providerEventId: string;
      account: string | null;
      /** The sender, in the form a send's `to` takes. */
      from: string;
      at: string;
      text: string | null;
      /** The provider id of our message this one answers, when the provider says. */
      inReplyTo: string | null;
      /** Every id the message `inReplyTo` names may be stored under (an email Message-ID with and without its brackets); absent: `inReplyTo` alone. */
      inReplyToForms?: string[];
      /** A tapped button or list row (its title is the text too). */
      choice?: ReplyChoice;
    };

/** The body verified but is not a payload this provider sends: 400, nothing recorded. */
export class WebhookPayloadError extends Error {
  override readonly name = 'WebhookPayloadError';
}

const MAX_TEXT = 4096;
export const clip = (text: string | null | undefined) => (typeof text === 'string' ? text.slice(0, MAX_TEXT) : null);

/** How far back a provider's time is believed: providers retry for days, not for months. */
const OLDEST_BELIEVED_MS = 30 * 24 * 3600_000;
/** Clocks differ: a provider's time may be a little ahead of ours. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A provider's time for an event, kept within what it can mean: never more than a clock's skew after we
 * received it (a time in the future would hold a messaging window open), never older than a month (and so always a time PostgreSQL can
 * store: a year 0 or +275760 date stalled a projection for every company). Unparseable: the receipt time.
 */
export function providerTime(ms: number, received: Date): string {
  if (!Number.isFinite(ms) || ms <= 0) return received.toISOString();
  return new Date(Math.min(Math.max(ms, received.getTime() - OLDEST_BELIEVED_MS), received.getTime() + CLOCK_SKEW_MS)).toISOString();
}

/** Seconds (Meta, as a string or number) or milliseconds (Instagram) since the epoch. */
export function epochToIso(value: unknown, unit: 's' | 'ms', received: Date): string {
  const n =
    typeof value === 'string' && /^\d{1,16}$/.test(value)
      ? Number(value)
      : typeof value === 'number' && Number.isFinite(value)
        ? value
        : Number.NaN;
  return providerTime(unit === 's' ? n * 1000 : n, received);
}

export function isoOr(value: unknown, received: Date): string {
  return providerTime(typeof value === 'string' ? Date.parse(value) : Number.NaN, received);
}

/** Refuses notices the event store could not keep as given (NUL, lone surrogates), before anything is written. */
export function assertStorable(notices: InboundNotice[]): void {
  for (const n of notices) {
    for (const v of Object.values(n).flatMap((x) => (Array.isArray(x) ? x : x && typeof x === 'object' ? Object.values(x) : [x]))) {
      if (typeof v === 'string' && unstorableString(v)) throw new WebhookPayloadError('the payload holds characters that cannot be stored');
    }
  }
}
