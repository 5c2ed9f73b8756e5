import { z } from 'zod';
import type { InboundNotice } from './notices.js';
import { WebhookPayloadError, clip, isoOr } from './notices.js';
import type { WebhookProvider } from './provider.js';
import { headerOf, sharedSecretMatches } from './signatures.js';

/**
 * LinkedIn through Unipile. Unipile does not sign its webhooks; it sends the custom headers set when the webhook
 * is created (`headers: [{key, value}]`). We ask for `Unipile-Auth: <the secret's value>` and compare it in
 * constant time: a shared secret over TLS, weaker than a signature (a replay is still recorded once).
 */
const Body = z.object({
  event: z.string().min(1).max(100),
  account_id: z.string().max(200).optional(),
  timestamp: z.string().max(64).optional(),
  message_id: z.string().max(500).optional(),
  message: z.string().max(65_536).nullable().optional(),
  sender: z.object({ attendee_provider_id: z.string().max(500).optional() }).optional(),
  account_info: z.object({ user_id: z.string().max(500).optional() }).optional(),
  user_provider_id: z.string().max(500).optional(),
  user_public_identifier: z.string().max(500).optional(),
  user_profile_url: z.string().max(2000).optional(),
});

export const unipileWebhook: WebhookProvider = {
  verify: (_raw, headers, secret) => sharedSecretMatches(secret, headerOf(headers, 'unipile-auth')),
  parse(body, now) {
    const r = Body.safeParse(body);
    if (!r.success) throw new WebhookPayloadError('not a Unipile webhook payload');
    const b = r.data;
    const account = b.account_id ?? null;
    if (b.event === 'message_received' && b.message_id && b.sender?.attendee_provider_id) {
      // Unipile also reports what the account's own user sent (from another device): not a reply.
      if (b.account_info?.user_id && b.account_info.user_id === b.sender.attendee_provider_id) return [];
      return [
        {
          kind: 'message',
          providerEventId: `unipile:${b.message_id}`,
          account,
          from: b.sender.attendee_provider_id,
          at: isoOr(b.timestamp, now),
          text: clip(b.message),
          inReplyTo: null,
        },
      ];
    }
    if (b.event === 'new_relation' && b.user_provider_id) {
      const notice: InboundNotice = {
        kind: 'delivery',
        providerEventId: `unipile:relation:${account ?? ''}:${b.user_provider_id}`,
        providerMessageIds: [],
        state: 'accepted',
        at: isoOr(b.timestamp, now),
        account,
        recipients: [b.user_provider_id, b.user_public_identifier, b.user_profile_url].filter(
          (x): x is string => typeof x === 'string' && x.length > 0,
        ),
      };
      return [notice];
    }
    return []; // reactions, read marks, account status: acknowledged, not recorded
  },
};
