import { z } from 'zod';
import { canonicalEmail } from '../domain/recipients.js';
import type { InboundNotice } from './notices.js';
import { WebhookPayloadError, clip, isoOr } from './notices.js';
import type { WebhookProvider } from './provider.js';
import { headerOf, prefixedHmacMatches } from './signatures.js';

/**
 * Email bounces, complaints and replies have no standard webhook; ESPs differ. This is our own small format, which a
 * relay (or an ESP's webhook transformer) posts, signed over a time: `X-CRM-Timestamp: <unix seconds>` and
 * `X-CRM-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, refused more than
 * `EMAIL_WEBHOOK_TOLERANCE_S` from our clock, so that a captured delivery cannot be replayed later. The body is
 * one event or an array of them:
 * `{type: "bounce"|"complaint"|"delivered", messageId, recipient, at, id?, bounceType?: "hard"|"soft", reason?}`,
 * or a person's answer to one of our messages, recorded on that send (the latest send to them when no send has
 * that Message-ID) and on their contact, as replies on other channels are:
 * `{type: "reply", inReplyTo, from, at, text?, id?}`. `inReplyTo` is the Message-ID of our message (as the reply's
 * `In-Reply-To` header names it, with or without its angle brackets); `from` is the sender's bare address
 * (`ana@example.org`): a display name (`Ana <ana@example.org>`) is refused, not read, so that the relay, which
 * has the parsed header, says which mailbox wrote rather than us guessing from a header that may name several.
 * `text` is kept up to 4096 characters.
 */
export const EMAIL_WEBHOOK_TOLERANCE_S = 300;

/** Seconds since the epoch, as a relay writes them: digits only (no sign, no fraction). */
const TIMESTAMP = /^\d{1,12}$/;

function verifyEmailSignature(
  raw: Buffer,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
  now: Date,
): boolean | 'stale' {
  const timestamp = headerOf(headers, 'x-crm-timestamp');
  if (typeof timestamp !== 'string' || !TIMESTAMP.test(timestamp)) return false;
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), raw]);
  if (!prefixedHmacMatches(signed, secret, headerOf(headers, 'x-crm-signature-256'))) return false;
  // After the signature: only the holder of the secret (or a replay of what it sent) learns that a time is off.
  return Math.abs(now.getTime() / 1000 - Number(timestamp)) <= EMAIL_WEBHOOK_TOLERANCE_S ? true : 'stale';
}
const Delivery = z
  .object({
    type: z.enum(['bounce', 'complaint', 'delivered']),
    messageId: z.string().min(1).max(998),
    recipient: z.string().min(3).max(320),
    at: z.iso.datetime({ offset: true }),
    id: z.string().min(1).max(200).optional(),
    bounceType: z.enum(['hard', 'soft']).optional(),
    reason: z.string().max(1000).optional(),
  })
  .strict();
/** RFC 5322's msg-id, `<left@right>`, or the same without the brackets (as most ESPs print it). */
const MESSAGE_ID = /^(?:<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/;
const Reply = z
  .object({
    type: z.literal('reply'),
    inReplyTo: z.string().max(998).regex(MESSAGE_ID),
    from: z.string().min(3).max(320),
    at: z.iso.datetime({ offset: true }),
    text: z.string().max(65_536).optional(),
    id: z.string().min(1).max(200).optional(),
  })
  .strict();
const Event = z.union([Delivery, Reply]);
const Body = z.union([Event, z.array(Event).min(1).max(1000)]);

/** Message ids as ESPs print them: with or without the angle brackets nodemailer records. */
const idForms = (id: string) => {
  const bare = id.replace(/^<|>$/g, '');
  return [...new Set([id, bare, `<${bare}>`])];
};

export const emailWebhook: WebhookProvider = {
  verify: verifyEmailSignature,
  parse(body, now) {
    const r = Body.safeParse(body);
    if (!r.success) throw new WebhookPayloadError('not a webhook payload of the documented email format');
    return (Array.isArray(r.data) ? r.data : [r.data]).map((e): InboundNotice => {
      if (e.type === 'reply') {
        const from = canonicalEmail(e.from);
        if (!from) throw new WebhookPayloadError("a reply's from is not one bare email address");
        const bare = e.inReplyTo.replace(/^<|>$/g, '');
        return {
          kind: 'message',
          // Without an id, the same reply posted once with brackets and once without is one event.
          providerEventId: `email:${e.id ?? `reply:${bare}:${from}:${e.at}`}`,
          account: null,
          from,
          at: isoOr(e.at, now),
          text: clip(e.text),
          // As nodemailer reports a send's id (and so as an SMTP send stores it); bare too, as an ESP's API may report it.
          inReplyTo: `<${bare}>`,
          inReplyToForms: [`<${bare}>`, bare],
        };
      }
      const hard = e.type === 'bounce' && e.bounceType !== 'soft';
      return {
        kind: 'delivery',
        providerEventId: `email:${e.id ?? `${e.type}:${e.messageId}:${e.recipient}:${e.at}`}`,
        providerMessageIds: idForms(e.messageId),
        state: e.type === 'bounce' ? 'bounced' : e.type === 'complaint' ? 'complained' : 'delivered',
        at: isoOr(e.at, now),
        account: null,
        recipients: [e.recipient],
        ...(e.type === 'bounce'
          ? { error: { code: hard ? 'hard_bounce' : 'soft_bounce', message: (e.reason ?? 'bounced').slice(0, 500) } }
          : {}),
        ...(hard ? { suppress: 'hard_bounce' as const } : e.type === 'complaint' ? { suppress: 'complaint' as const } : {}),
      };
    });
  },
};
