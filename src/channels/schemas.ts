import { z } from 'zod';
import type { OutboxChannel } from '../domain/channels.js';
import { WEBHOOK_CONFIG } from '../webhooks/config.js';
import type { EgressPolicy } from './egress.js';
import { LIST_ID, UNSUBSCRIBE_PLACEHOLDER } from './email-unsubscribe.js';

/**
 * A provider's base URL: a path prefix is fine, a query, fragment or credentials are not (the adapter appends
 * its path: a `?x=` would swallow it). Whether plain http and the host are allowed depends on the instance's
 * egress policy, checked where the outbox is written (`baseUrlRefusal`).
 */
const providerBaseUrl = z.url({ protocol: /^https?$/ }).refine(
  (u) => {
    const url = new URL(u);
    return !url.search && !u.includes('?') && !url.hash && !u.includes('#') && !url.username && !url.password;
  },
  { message: 'baseUrl must be a base URL: no query, fragment or credentials' },
);

/**
 * Why the instance will not call a config's `baseUrl` (the config passed OUTBOX_CONFIG), or null. What is known
 * without DNS is refused here; a name is checked again on every address it resolves to when a send dials it.
 */
export function baseUrlRefusal(
  config: Record<string, unknown>,
  egress: EgressPolicy,
): { code: 'egress_refused' | 'insecure_url'; message: string } | null {
  if (typeof config.baseUrl !== 'string') return null;
  const url = new URL(config.baseUrl);
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const refused = egress.refusalOf(url.hostname, port);
  if (refused) return { code: 'egress_refused', message: `baseUrl is refused: ${refused}` };
  if (url.protocol === 'http:' && !egress.allowsPlainHttp(url.hostname, port)) {
    // The credential travels in a header: in clear only to this machine, or to a relay the operator named.
    return {
      code: 'insecure_url',
      message: 'baseUrl must be https (http only to a host:port or CIDR in CRM_EGRESS_ALLOW, or to loopback in local_trusted mode)',
    };
  }
  return null;
}

/** An outbox's own unsubscribe footer: the link must be in it, or the footer would hide that there is none. */
const unsubscribeFooterWords = (max: number) =>
  z
    .string()
    .max(max)
    .refine((w) => w.includes(UNSUBSCRIBE_PLACEHOLDER), { message: `an unsubscribe footer must contain ${UNSUBSCRIBE_PLACEHOLDER}` });

/** Outbox `config` per channel (what is not secret: the secret holds the credential). */
export const OUTBOX_CONFIG: Record<OutboxChannel, z.ZodType<Record<string, unknown>>> = {
  email: z
    .object({
      fromAddress: z.email(),
      fromName: z.string().trim().min(1).max(200).optional(),
      replyTo: z.email().optional(),
      // RFC 2919: `label.namespace`, a domain the sender controls; default `<outboxId>.<fromAddress domain>`.
      listId: z.string().regex(LIST_ID, 'listId is an RFC 2919 list-id: label.domain (dot-atom, at most 255 characters)').optional(),
      unsubscribeFooter: z
        .union([
          z.literal(true),
          z
            .object({ text: unsubscribeFooterWords(1_000).optional(), html: unsubscribeFooterWords(4_000).optional() })
            .strict()
            .refine((f) => f.text !== undefined || f.html !== undefined, { message: 'unsubscribeFooter needs text or html (or is true)' }),
        ])
        .optional(),
      webhook: WEBHOOK_CONFIG.optional(),
    })
    .strict(),
  'cal-com': z
    .object({
      eventTypeId: z.number().int().positive(),
      baseUrl: providerBaseUrl.optional(),
      // cal.com bumps the version per endpoint; an operator can follow without a release.
      apiVersion: z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/, 'apiVersion is a date, YYYY-MM-DD')
        .optional(),
      webhook: WEBHOOK_CONFIG.optional(),
    })
    .strict(),
  linkedin: z
    // Through Unipile, whose DSN is per customer: there is no default base URL.
    .object({ accountId: z.string().trim().min(1).max(200), baseUrl: providerBaseUrl, webhook: WEBHOOK_CONFIG.optional() })
    .strict(),
  whatsapp: z
    .object({
      phoneNumberId: z.string().regex(/^\d{5,30}$/, 'phoneNumberId is digits'),
      apiVersion: z
        .string()
        .regex(/^v\d+\.\d+$/)
        .optional(),
      baseUrl: providerBaseUrl.optional(),
      webhook: WEBHOOK_CONFIG.optional(),
    })
    .strict(),
  instagram: z
    .object({
      igUserId: z.string().regex(/^\d{5,30}$/, 'igUserId is digits'),
      apiVersion: z
        .string()
        .regex(/^v\d+\.\d+$/)
        .optional(),
      baseUrl: providerBaseUrl.optional(),
      webhook: WEBHOOK_CONFIG.optional(),
    })
    .strict(),
};

/** A send's `payload` per channel (a dry run is validated as its outbox's channel). */
export const SEND_PAYLOAD: Record<OutboxChannel, z.ZodType<Record<string, unknown>>> = {
  email: z
    .object({
      subject: z.string().trim().min(1).max(998),
      text: z
        .string()
        .max(512 * 1024)
        .optional(),
      html: z
        .string()
        .max(512 * 1024)
        .optional(),
    })
    .strict()
    .refine((p) => p.text !== undefined || p.html !== undefined, { message: 'an email needs text or html', path: ['text'] }),
  'cal-com': z
    .object({
      start: z.iso.datetime({ offset: true }),
      attendee: z.object({ name: z.string().trim().min(1).max(200), email: z.email(), timeZone: z.string().min(1).max(64) }).strict(),
      lengthInMinutes: z
        .number()
        .int()
        .positive()
        .max(24 * 60)
        .optional(),
    })
    .strict(),
  linkedin: z
    .object({ kind: z.enum(['invitation', 'message']), note: z.string().max(300).optional(), text: z.string().min(1).max(8000).optional() })
    .strict()
    .refine((p) => p.kind === 'invitation' || p.text !== undefined, { message: 'a message needs text', path: ['text'] }),
  whatsapp: z
    .object({
      text: z.string().min(1).max(4096).optional(),
      template: z
        .object({
          name: z.string().min(1).max(512),
          language: z.string().min(2).max(15),
          components: z.array(z.record(z.string(), z.unknown())).max(20).optional(),
        })
        .strict()
        .optional(),
    })
    .strict()
    .refine((p) => (p.text === undefined) !== (p.template === undefined), {
      message: 'a WhatsApp message is text or a template',
      path: ['text'],
    }),
  instagram: z.object({ text: z.string().min(1).max(1000), humanAgent: z.boolean().optional() }).strict(),
};
