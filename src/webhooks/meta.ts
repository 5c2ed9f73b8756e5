import { z } from 'zod';
import type { DeliveryState } from '../domain/activity.js';
import { type InboundNotice, WebhookPayloadError, clip, epochToIso } from './notices.js';
import type { WebhookProvider } from './provider.js';
import { headerOf, prefixedHmacMatches } from './signatures.js';

/**
 * Meta (WhatsApp Cloud API, Instagram messaging): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
 * with the app secret>`, and a GET handshake with the verify token. Only the fields read here are checked; Meta
 * adds fields over versions, and those must not turn a genuine delivery into a 400 (which Meta retries).
 */
const verifyMeta = (raw: Buffer, headers: Parameters<WebhookProvider['verify']>[1], secret: string) =>
  prefixedHmacMatches(raw, secret, headerOf(headers, 'x-hub-signature-256'));

const id = z.string().min(1).max(512);
const epoch = z.union([z.string().max(20), z.number()]);

const WaStatus = z.object({
  id,
  status: z.string().max(40),
  timestamp: epoch.optional(),
  recipient_id: z.string().max(64).optional(),
  errors: z.array(z.object({ code: z.union([z.number(), z.string().max(40)]).optional(), title: z.string().max(1000).optional(), message: z.string().max(1000).optional() })).max(20).optional(),
});
const WaMessage = z.object({
  id,
  from: z.string().regex(/^\d{5,20}$/),
  timestamp: epoch.optional(),
  type: z.string().max(40).optional(),
  text: z.object({ body: z.string().max(65_536) }).optional(),
  context: z.object({ id: id.optional() }).optional(),
});
const WhatsAppBody = z.object({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(
      z.object({
        changes: z
          .array(
            z.object({
              field: z.string().max(100),
              value: z
                .object({
                  metadata: z.object({ phone_number_id: z.string().max(64) }).optional(),
                  statuses: z.array(WaStatus).max(1000).optional(),
                  messages: z.array(WaMessage).max(1000).optional(),
                })
                .optional(),
            }),
          )
          .max(100),
      }),
    )
    .max(100),
});

const WA_STATES: Record<string, DeliveryState> = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed' };

function parseOrThrow<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw new WebhookPayloadError(`not a ${what} webhook payload`);
  return r.data;
}

export const whatsappWebhook: WebhookProvider = {
  verify: verifyMeta,
  verifyTokenHandshake: true,
  parse(body, now) {
    const b = parseOrThrow(WhatsAppBody, body, 'WhatsApp');
    const out: InboundNotice[] = [];
    for (const change of b.entry.flatMap((e) => e.changes)) {
      if (change.field !== 'messages' || !change.value) continue;
      const account = change.value.metadata?.phone_number_id ?? null;
      for (const s of change.value.statuses ?? []) {
        const state = WA_STATES[s.status];
        if (!state) continue; // e.g. `deleted`, `warning`: nothing a send's history needs
        const e = s.errors?.[0];
        out.push({
          kind: 'delivery',
          providerEventId: `wa:${s.id}:${s.status}`,
          providerMessageIds: [s.id],
          state,
          at: epochToIso(s.timestamp, 's', now),
          account,
          recipients: s.recipient_id ? [`+${s.recipient_id}`] : [],
          ...(state === 'failed' ? { error: { code: e?.code !== undefined ? String(e.code) : 'failed', message: (e?.title ?? e?.message ?? 'delivery failed').slice(0, 500) } } : {}),
        });
      }
      for (const m of change.value.messages ?? []) {
        out.push({
          kind: 'message',
          providerEventId: `wa:${m.id}`,
          account,
          // The Cloud API gives the sender's number without the +; sends name it in E.164.
          from: `+${m.from}`,
          at: epochToIso(m.timestamp, 's', now),
          text: clip(m.text?.body),
          inReplyTo: m.context?.id ?? null,
        });
      }
    }
    return out;
  },
};

const IgMessaging = z.object({
  sender: z.object({ id }),
  recipient: z.object({ id }),
  timestamp: epoch.optional(),
  message: z
    .object({ mid: id, text: z.string().max(65_536).optional(), is_echo: z.boolean().optional(), reply_to: z.object({ mid: id.optional() }).optional() })
    .optional(),
  read: z.object({ mid: id.optional() }).optional(),
  delivery: z.object({ mids: z.array(id).max(1000).optional() }).optional(),
});
const InstagramBody = z.object({
  object: z.literal('instagram'),
  entry: z.array(z.object({ id, messaging: z.array(IgMessaging).max(1000).optional() })).max(100),
});

export const instagramWebhook: WebhookProvider = {
  verify: verifyMeta,
  verifyTokenHandshake: true,
  parse(body, now) {
    const b = parseOrThrow(InstagramBody, body, 'Instagram');
    const out: InboundNotice[] = [];
    for (const entry of b.entry) {
      for (const m of entry.messaging ?? []) {
        const at = epochToIso(m.timestamp, 'ms', now);
        if (m.message) {
          // An echo is our own account's message (sent here or from the app): it opens no window.
          if (m.message.is_echo) continue;
          out.push({ kind: 'message', providerEventId: `ig:${m.message.mid}`, account: m.recipient.id, from: m.sender.id, at, text: clip(m.message.text), inReplyTo: m.message.reply_to?.mid ?? null });
        }
        if (m.read?.mid) {
          out.push({ kind: 'delivery', providerEventId: `ig:${m.read.mid}:read`, providerMessageIds: [m.read.mid], state: 'read', at, account: entry.id, recipients: [m.sender.id] });
        }
        for (const mid of m.delivery?.mids ?? []) {
          out.push({ kind: 'delivery', providerEventId: `ig:${mid}:delivered`, providerMessageIds: [mid], state: 'delivered', at, account: entry.id, recipients: [m.sender.id] });
        }
      }
    }
    return out;
  },
};
