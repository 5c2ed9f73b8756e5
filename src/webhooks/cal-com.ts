import { z } from 'zod';
import type { DeliveryState } from '../domain/activity.js';
import { type InboundNotice, WebhookPayloadError, isoOr } from './notices.js';
import type { WebhookProvider } from './provider.js';
import { headerOf, hmacHexMatches } from './signatures.js';

/**
 * cal.com: `X-Cal-Signature-256` is the hex HMAC-SHA256 of the raw body with the webhook's secret (cal.com does
 * not sign when no secret is set, so an outbox must have one). A booking we made is matched by its uid, the
 * provider message id the cal-com adapter records. A reschedule is a new booking: its payload is the new one
 * (`uid`) naming the one it replaces (`rescheduleUid`); the send learns the new uid, so that what cal.com later
 * says about the new booking (a cancellation, another reschedule) is still about the send.
 */
const Body = z.object({
  triggerEvent: z.string().min(1).max(100),
  createdAt: z.string().max(64).optional(),
  payload: z
    .object({
      uid: z.string().max(200).optional(),
      rescheduleUid: z.string().max(200).optional(),
      fromReschedule: z.string().max(200).optional(),
      attendees: z
        .array(z.object({ email: z.string().max(320).optional() }))
        .max(100)
        .optional(),
      cancellationReason: z.string().max(1000).nullable().optional(),
    })
    .optional(),
});

const STATES: Record<string, DeliveryState> = {
  BOOKING_CREATED: 'booking_created',
  BOOKING_RESCHEDULED: 'booking_rescheduled',
  BOOKING_CANCELLED: 'booking_cancelled',
};

export const calComWebhook: WebhookProvider = {
  verify: (raw, headers, secret) => hmacHexMatches(raw, secret, headerOf(headers, 'x-cal-signature-256')),
  parse(body, now) {
    const r = Body.safeParse(body);
    if (!r.success) throw new WebhookPayloadError('not a cal.com webhook payload');
    const { triggerEvent, createdAt, payload } = r.data;
    const state = STATES[triggerEvent];
    // Other triggers (PING, MEETING_ENDED, …) are acknowledged and not recorded.
    if (!state || !payload?.uid) return [];
    const ids = [payload.uid, payload.rescheduleUid, payload.fromReschedule].filter(
      (x): x is string => typeof x === 'string' && x.length > 0,
    );
    const replaces = state === 'booking_rescheduled' && ids.some((id) => id !== payload.uid);
    const notice: InboundNotice = {
      kind: 'delivery',
      // cal.com has no event id: the trigger, the booking and the trigger's time name one delivery.
      providerEventId: `cal:${triggerEvent}:${payload.uid}:${createdAt ?? ''}`,
      providerMessageIds: [...new Set(ids)],
      ...(replaces ? { newProviderMessageId: payload.uid } : {}),
      state,
      at: isoOr(createdAt, now),
      account: null,
      recipients: (payload.attendees ?? []).map((a) => a.email).filter((e): e is string => typeof e === 'string'),
      ...(state === 'booking_cancelled' && payload.cancellationReason
        ? { error: { code: 'booking_cancelled', message: payload.cancellationReason.slice(0, 500) } }
        : {}),
    };
    return [notice];
  },
};
