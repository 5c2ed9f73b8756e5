import { GRAPH_API_VERSION } from './graph-api.js';
import { type HttpProviderOptions, callProvider, field, joinUrl } from './http-provider.js';
import { readMetaError } from './meta-errors.js';
import type { ChannelAdapter } from './port.js';

const DEFAULT_BASE_URL = 'https://graph.facebook.com';

interface WhatsAppConfig {
  phoneNumberId: string;
  apiVersion?: string;
  baseUrl?: string;
}

interface WhatsAppPayload {
  text?: string;
  template?: { name: string; language: string; components?: Record<string, unknown>[] };
}

/**
 * WhatsApp Business Cloud API: `POST /{version}/{phone-number-id}/messages` with the access token (the
 * secret) as a Bearer token. The 24-hour customer-service window is the dispatcher's to check, not ours.
 */
export function whatsAppAdapter(options: HttpProviderOptions = {}): ChannelAdapter {
  return {
    async send(outbox, credential, message) {
      const cfg = outbox.config as unknown as WhatsAppConfig;
      const p = message.payload as WhatsAppPayload;
      const content = p.template
        ? {
            type: 'template',
            template: {
              name: p.template.name,
              language: { code: p.template.language },
              ...(p.template.components ? { components: p.template.components } : {}),
            },
          }
        : { type: 'text', text: { body: p.text } };
      const reply = await callProvider(
        {
          prefix: 'whatsapp',
          label: 'the WhatsApp Cloud API',
          method: 'POST',
          url: joinUrl(cfg.baseUrl ?? DEFAULT_BASE_URL, `${cfg.apiVersion ?? GRAPH_API_VERSION}/${cfg.phoneNumberId}/messages`),
          headers: { authorization: `Bearer ${credential}` },
          // The recipient is stored in E.164; the Cloud API wants the digits alone.
          body: { messaging_product: 'whatsapp', recipient_type: 'individual', to: message.to.replace(/\D/g, ''), ...content },
          credential,
          readError: readMetaError,
        },
        options,
      );
      const messages = field(reply.body, 'messages');
      const id = Array.isArray(messages) ? field(messages[0], 'id') : undefined;
      return { providerMessageId: typeof id === 'string' ? id : null };
    },
  };
}
