import { GRAPH_API_VERSION } from './graph-api.js';
import { type HttpProviderOptions, callProvider, field, joinUrl } from './http-provider.js';
import { readMetaError } from './meta-errors.js';
import type { ChannelAdapter } from './port.js';

/** The Instagram API with Instagram Login is served from its own host (no Facebook Page needed). */
const DEFAULT_BASE_URL = 'https://graph.instagram.com';

interface InstagramConfig {
  igUserId: string;
  apiVersion?: string;
  baseUrl?: string;
}

/** Meta reserves the human-agent tag for messages a person writes: an AI agent's always waits for one. */
export const needsPersonOnInstagram = (payload: Record<string, unknown>) => payload.humanAgent === true;

/**
 * Instagram messaging through the Send API: `POST /{version}/{ig-user-id}/messages` with the Instagram user
 * access token (the secret) as a Bearer token; the recipient is an Instagram-scoped id (IGSID). The
 * messaging windows (24 h, 7 days with HUMAN_AGENT) are the dispatcher's to check.
 */
export function instagramAdapter(options: HttpProviderOptions = {}): ChannelAdapter {
  return {
    async send(outbox, credential, message) {
      const cfg = outbox.config as unknown as InstagramConfig;
      const p = message.payload as { text: string; humanAgent?: boolean };
      const reply = await callProvider(
        {
          prefix: 'instagram',
          label: 'the Instagram API',
          method: 'POST',
          url: joinUrl(cfg.baseUrl ?? DEFAULT_BASE_URL, `${cfg.apiVersion ?? GRAPH_API_VERSION}/${cfg.igUserId}/messages`),
          headers: { authorization: `Bearer ${credential}` },
          body: {
            recipient: { id: message.to.trim() },
            message: { text: p.text },
            // A human agent may answer up to 7 days after the person's last message, with this tag only.
            ...(p.humanAgent ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : {}),
          },
          credential,
          readError: readMetaError,
        },
        options,
      );
      const id = field(reply.body, 'message_id');
      return { providerMessageId: typeof id === 'string' ? id : null };
    },
  };
}
