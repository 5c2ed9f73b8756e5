import { canonicalEmail } from '../domain/recipients.js';
import { type HttpProviderOptions, type ProviderReply, callProvider, field, joinUrl } from './http-provider.js';
import { type ChannelAdapter, ChannelError } from './port.js';

const DEFAULT_BASE_URL = 'https://api.cal.com';
/**
 * cal.com versions each v2 endpoint by this header; this is the one documented for `POST /v2/bookings` (its
 * input and `{status, data}` reply are 2024-08-13's). An outbox's `apiVersion` pins another.
 */
export const CAL_COM_BOOKINGS_API_VERSION = '2026-02-25';

interface CalComConfig {
  eventTypeId: number;
  baseUrl?: string;
  apiVersion?: string;
}

interface CalComPayload {
  start: string;
  attendee: { name: string; email: string; timeZone: string };
  lengthInMinutes?: number;
}

/**
 * A booking is made for the address the allowlist checked, never for another one in the payload: the attendee
 * must be the recipient, and is booked under its canonical spelling. Null when it is someone else.
 */
export function bookingFor(payload: Record<string, unknown>, to: string): Record<string, unknown> | null {
  const attendee = (payload as { attendee?: { email?: string } }).attendee;
  if (canonicalEmail(attendee?.email ?? '') !== to) return null;
  return { ...payload, attendee: { ...attendee, email: to } };
}

/**
 * cal.com errors: `{status:"error", error:{code, message}}`; the code stays `calcom_<http status>`. Another
 * shape is not cal.com speaking, and nothing of it is repeated.
 */
function readCalComError(reply: ProviderReply) {
  if (field(reply.body, 'status') !== 'error') return {};
  const message = field(field(reply.body, 'error'), 'message');
  return { message: typeof message === 'string' ? message : undefined };
}

/**
 * cal.com bookings through API v2 (`POST /v2/bookings`), with the API key (the secret) as a Bearer token.
 * The booking is made for the activity's recipient. cal.com has no idempotency header: the activity id goes
 * into the booking's metadata so a booking can be traced back (and found, should a lost reply need it).
 */
export function calComAdapter(options: HttpProviderOptions = {}): ChannelAdapter {
  return {
    async send(outbox, credential, message) {
      const cfg = outbox.config as unknown as CalComConfig;
      const p = message.payload as unknown as CalComPayload;
      // The allowlist checked `to`: a booking for another address would get round it.
      if (p.attendee.email.trim().toLowerCase() !== message.to.trim().toLowerCase()) {
        throw new ChannelError('calcom_attendee_mismatch', 'the attendee email differs from the recipient (to)');
      }
      const reply = await callProvider(
        {
          prefix: 'calcom',
          label: 'cal.com',
          method: 'POST',
          url: joinUrl(cfg.baseUrl ?? DEFAULT_BASE_URL, 'v2/bookings'),
          headers: { authorization: `Bearer ${credential}`, 'cal-api-version': cfg.apiVersion ?? CAL_COM_BOOKINGS_API_VERSION },
          body: {
            eventTypeId: cfg.eventTypeId,
            // cal.com reads `start` as UTC.
            start: new Date(p.start).toISOString(),
            attendee: { name: p.attendee.name, email: message.to.trim(), timeZone: p.attendee.timeZone },
            ...(p.lengthInMinutes !== undefined ? { lengthInMinutes: p.lengthInMinutes } : {}),
            metadata: { crmActivityId: message.idempotencyKey },
          },
          credential,
          readError: readCalComError,
        },
        options,
      );
      // A recurring event type answers with its bookings, first occurrence first.
      const data = field(reply.body, 'data');
      const uid = field(Array.isArray(data) ? data[0] : data, 'uid');
      return { providerMessageId: typeof uid === 'string' ? uid : null };
    },
  };
}
