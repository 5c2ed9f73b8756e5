import { z } from 'zod';
import { parseSecretRef } from '../secrets/secret-ref.js';

/**
 * An outbox's inbound-webhook settings (in its `config`): the secret that signs the provider's deliveries
 * (Meta app secret, cal.com webhook secret, the Unipile auth header value, our own HMAC key for email), and for
 * Meta the verify token of the subscription handshake. The verify token authorises nothing by itself (every
 * POST must still carry the app secret's signature), so it is kept as plain configuration.
 */
export const WEBHOOK_CONFIG = z
  .object({
    secretRef: z.string().refine((r) => parseSecretRef(r) !== null, 'secretRef must be secret://<uuid>:<version|latest>'),
    verifyToken: z
      .string()
      .min(8)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'verifyToken is printable ASCII without spaces')
      .optional(),
  })
  .strict();

export type WebhookConfig = z.infer<typeof WEBHOOK_CONFIG>;

/** The webhook settings of an outbox config, if any (configs are validated on write; this only narrows). */
export function webhookConfigOf(config: Record<string, unknown>): WebhookConfig | null {
  const r = WEBHOOK_CONFIG.safeParse(config.webhook);
  return r.success ? r.data : null;
}
