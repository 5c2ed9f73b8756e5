import { FormData } from 'undici';
import { type HttpProviderOptions, type ProviderReply, callProvider, field, joinUrl } from './http-provider.js';
import { type ChannelAdapter, ChannelError } from './port.js';

/**
 * LinkedIn has no public messaging API for outreach, so we go through Unipile, whose documented HTTP API
 * drives a LinkedIn account the customer connected there (invitations, messages). Unipile gives each
 * customer its own DSN, so the outbox's `baseUrl` is required; the secret is the Unipile API key.
 */

interface LinkedInConfig {
  accountId: string;
  baseUrl: string;
}

interface LinkedInPayload {
  kind: 'invitation' | 'message';
  note?: string;
  text?: string;
}

/** LinkedIn member ids as Unipile gives them: classic (ACo…), Sales Navigator (ACw…), Recruiter (AE…). */
const PROVIDER_ID = /^A(?:Co|Cw|E)[A-Za-z0-9_-]{20,}$/;

/**
 * Unipile errors: `{status, type:"errors/<name>", title, detail}` -> `unipile_<name>`. Another shape is not
 * Unipile speaking, and nothing of it is repeated.
 */
function readUnipileError(reply: ProviderReply) {
  const type = field(reply.body, 'type');
  if (typeof type !== 'string' || !type.startsWith('errors/')) return {};
  const name = type.replace(/^errors\//, '').toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 60);
  const detail = field(reply.body, 'detail');
  const title = field(reply.body, 'title');
  const message = typeof detail === 'string' && detail ? detail : typeof title === 'string' ? title : undefined;
  return { code: name ? `unipile_${name}` : undefined, message };
}

/**
 * `to` as a provider id, or the public identifier to resolve (from a profile URL or as written); null for a URL
 * that is not a LinkedIn profile. The dispatcher refuses such a `to` with a 400 before any quota is spent.
 */
export function linkedInRecipient(to: string): { providerId: string } | { identifier: string } | null {
  const t = to.trim();
  if (PROVIDER_ID.test(t)) return { providerId: t };
  if (/^https?:\/\//i.test(t)) {
    const slug = profileSlug(t);
    return slug ? { identifier: slug } : null;
  }
  return t.replace(/^@/, '') ? { identifier: t.replace(/^@/, '') } : null;
}

function profileSlug(url: string): string | null {
  try {
    const u = new URL(url);
    if (!/(^|\.)linkedin\.com$/i.test(u.hostname)) return null;
    const slug = /^\/in\/([^/]+)/.exec(u.pathname)?.[1];
    return slug ? decodeURIComponent(slug) : null;
  } catch {
    return null;
  }
}

export function linkedInAdapter(options: HttpProviderOptions = {}): ChannelAdapter {
  return {
    async send(outbox, credential, message) {
      const cfg = outbox.config as unknown as LinkedInConfig;
      const p = message.payload as unknown as LinkedInPayload;
      const common = { prefix: 'unipile', label: 'Unipile', headers: { 'x-api-key': credential }, credential, readError: readUnipileError };
      const url = (path: string) => joinUrl(cfg.baseUrl, path);

      const r = linkedInRecipient(message.to);
      if (!r) throw new ChannelError('unipile_recipient_invalid', 'to is not a LinkedIn profile URL (linkedin.com/in/<identifier>)');
      let providerId: string;
      if ('providerId' in r) providerId = r.providerId;
      else {
        // A read: repeating it sends nothing, so it is retried even after a timeout.
        const profile = await callProvider(
          { ...common, method: 'GET', url: url(`api/v1/users/${encodeURIComponent(r.identifier)}?account_id=${encodeURIComponent(cfg.accountId)}`), idempotent: true },
          options,
        );
        const id = field(profile.body, 'provider_id');
        if (typeof id !== 'string' || id === '') throw new ChannelError('unipile_recipient_unresolved', 'Unipile returned no LinkedIn id for the recipient');
        providerId = id;
      }

      if (p.kind === 'invitation') {
        const reply = await callProvider(
          {
            ...common,
            method: 'POST',
            url: url('api/v1/users/invite'),
            body: { provider_id: providerId, account_id: cfg.accountId, ...(p.note ? { message: p.note } : {}) },
          },
          options,
        );
        const id = field(reply.body, 'invitation_id');
        return { providerMessageId: typeof id === 'string' ? id : null };
      }
      // Unipile documents this route as multipart/form-data only.
      const form = new FormData();
      form.set('account_id', cfg.accountId);
      form.set('attendees_ids', providerId);
      form.set('text', p.text ?? '');
      const reply = await callProvider({ ...common, method: 'POST', url: url('api/v1/chats'), body: form }, options);
      const id = field(reply.body, 'message_id') ?? field(reply.body, 'chat_id');
      return { providerMessageId: typeof id === 'string' ? id : null };
    },
  };
}
