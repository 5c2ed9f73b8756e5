import { z } from 'zod';
import type { ActivityError, DeliveryState, ReplyChoice } from '../domain/activity.js';
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

const words = (max: number) => z.string().max(max).optional();
const WaError = z.object({
  code: z.union([z.number(), z.string().max(40)]).optional(),
  title: words(1000),
  message: words(1000),
  error_data: z.object({ details: words(2000) }).optional(),
});
const WaStatus = z.object({
  id,
  status: z.string().max(40),
  timestamp: epoch.optional(),
  recipient_id: words(64),
  /** The recipient's business-scoped user id (BSUID), alone when the person has a username and no number is shared. */
  recipient_user_id: words(200),
  errors: z.array(WaError).max(20).optional(),
});
const Choice = z.object({ id: z.string().max(256), title: z.string().max(1024), description: words(1024) });
const WaMessage = z.object({
  id,
  /** The sender's number; absent for a person who adopted a username and shares no number. */
  from: words(64),
  from_user_id: words(200),
  timestamp: epoch.optional(),
  type: words(40),
  text: z.object({ body: z.string().max(65_536) }).optional(),
  interactive: z.object({ type: words(40), button_reply: Choice.optional(), list_reply: Choice.optional() }).optional(),
  button: z.object({ payload: words(1024), text: words(1024) }).optional(),
  context: z.object({ id: id.optional() }).optional(),
});
const WaContact = z.object({ wa_id: words(64), user_id: words(200) });
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
                  // Item by item (below): one message or status we cannot read must not cost the batch its others.
                  contacts: z.array(z.unknown()).max(1000).optional(),
                  statuses: z.array(z.unknown()).max(1000).optional(),
                  messages: z.array(z.unknown()).max(1000).optional(),
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

/**
 * Meta's business-scoped user id: a country code, a dot, up to 128 letters and digits (`US.13491208655302741918`;
 * a parent one has `ENT.` after the country: `US.ENT.1181…`). developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
 */
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;
const PHONE = /^\d{5,20}$/;

/** The person as a send names them: E.164 from the number Meta gives without its +, else their BSUID. */
function waPerson(phone: string | undefined, userId: string | undefined): string | null {
  if (phone && PHONE.test(phone)) return `+${phone}`;
  return userId && BSUID.test(userId) ? userId : null;
}

const items = <S extends z.ZodType>(schema: S, list: unknown[] | undefined): z.infer<S>[] =>
  (list ?? []).flatMap((x) => {
    const r = schema.safeParse(x);
    return r.success ? [r.data] : [];
  });

/** What a tap on a reply button or list row says: its title as the text, and the button's id. */
function choiceOf(m: z.infer<typeof WaMessage>): ReplyChoice | undefined {
  const pick = m.interactive?.button_reply ?? m.interactive?.list_reply;
  if (pick) {
    return {
      kind: m.interactive?.list_reply ? 'list' : 'button',
      id: pick.id,
      title: pick.title,
      ...(pick.description ? { description: pick.description } : {}),
    };
  }
  if (m.button?.text !== undefined) return { kind: 'quick_reply', id: m.button.payload ?? m.button.text, title: m.button.text };
  return undefined;
}

function waError(e: z.infer<typeof WaError> | undefined): ActivityError {
  const details = e?.error_data?.details;
  return {
    code: e?.code !== undefined ? String(e.code) : 'failed',
    message: (e?.message ?? e?.title ?? 'delivery failed').slice(0, 500),
    ...(e?.title ? { title: e.title.slice(0, 500) } : {}),
    ...(details ? { details: details.slice(0, 1000) } : {}),
  };
}

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
      const contacts = items(WaContact, change.value.contacts);
      for (const s of items(WaStatus, change.value.statuses)) {
        const state = WA_STATES[s.status];
        if (!state) continue; // e.g. `deleted`, `warning`: nothing a send's history needs
        const recipient = waPerson(s.recipient_id, s.recipient_user_id);
        out.push({
          kind: 'delivery',
          providerEventId: `wa:${s.id}:${s.status}`,
          providerMessageIds: [s.id],
          state,
          at: epochToIso(s.timestamp, 's', now),
          account,
          recipients: recipient ? [recipient] : [],
          ...(state === 'failed' ? { error: waError(s.errors?.[0]) } : {}),
        });
      }
      for (const m of items(WaMessage, change.value.messages)) {
        // The sender by number, else by BSUID: the message's own, or the batch's one contact's (Meta names the
        // sender in `contacts`; with several, only a number or the message's own id says which).
        const sole = contacts.length === 1 ? contacts[0] : undefined;
        const from = waPerson(m.from, m.from_user_id ?? (m.from ? contacts.find((c) => c.wa_id === m.from)?.user_id : sole?.user_id));
        if (!from) continue; // nobody to attribute it to: acknowledged, the batch's others recorded
        const choice = choiceOf(m);
        out.push({
          kind: 'message',
          providerEventId: `wa:${m.id}`,
          account,
          from,
          at: epochToIso(m.timestamp, 's', now),
          text: clip(m.text?.body ?? (choice ? [choice.title, choice.description].filter(Boolean).join('\n') : undefined)),
          inReplyTo: m.context?.id ?? null,
          ...(choice ? { choice } : {}),
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
    .object({
      mid: id,
      text: z.string().max(65_536).optional(),
      is_echo: z.boolean().optional(),
      reply_to: z.object({ mid: id.optional() }).optional(),
    })
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
          out.push({
            kind: 'message',
            providerEventId: `ig:${m.message.mid}`,
            account: m.recipient.id,
            from: m.sender.id,
            at,
            text: clip(m.message.text),
            inReplyTo: m.message.reply_to?.mid ?? null,
          });
        }
        if (m.read?.mid) {
          out.push({
            kind: 'delivery',
            providerEventId: `ig:${m.read.mid}:read`,
            providerMessageIds: [m.read.mid],
            state: 'read',
            at,
            account: entry.id,
            recipients: [m.sender.id],
          });
        }
        for (const mid of m.delivery?.mids ?? []) {
          out.push({
            kind: 'delivery',
            providerEventId: `ig:${mid}:delivered`,
            providerMessageIds: [mid],
            state: 'delivered',
            at,
            account: entry.id,
            recipients: [m.sender.id],
          });
        }
      }
    }
    return out;
  },
};
