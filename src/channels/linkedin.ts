import { FormData } from 'undici';
import { type HttpProviderOptions, type ProviderReply, callProvider, field, joinUrl } from './http-provider.js';
import { type ChannelAdapter, ChannelError } from './port.js';
import { LINKEDIN_PROFILE_PREFIX, LINKEDIN_PROVIDER_ID, canonicalLinkedIn } from '../domain/recipients.js';

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

/**
 * Unipile errors: `{status, type:"errors/<name>", title, detail}` -> `unipile_<name>`. Another shape is not
 * Unipile speaking, and nothing of it is repeated.
 */
function readUnipileError(reply: ProviderReply) {
  const type = field(reply.body, 'type');
  if (typeof type !== 'string' || !type.startsWith('errors/')) return {};
  const name = type
    .replace(/^errors\//, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 60);
  const detail = field(reply.body, 'detail');
  const title = field(reply.body, 'title');
  const message = typeof detail === 'string' && detail ? detail : typeof title === 'string' ? title : undefined;
  return { code: name ? `unipile_${name}` : undefined, message };
}

/**
 * `to` as a provider id, or the public identifier to resolve (from any spelling of a profile; see
 * `canonicalLinkedIn`); null for anything else. The dispatcher refuses such a `to` with a 400 before any quota
 * is spent.
 */
export function linkedInRecipient(to: string): { providerId: string } | { identifier: string } | null {
  const member = canonicalLinkedIn(to);
  if (!member) return null;
  return member.startsWith(LINKEDIN_PROFILE_PREFIX) ? { identifier: member.slice(LINKEDIN_PROFILE_PREFIX.length) } : { providerId: member };
}

export function linkedInAdapter(options: HttpProviderOptions = {}): ChannelAdapter {
  /** Unipile's profile read (`GET /api/v1/users/{provider id or public identifier}`): a read, retried even after a timeout. */
  const lookUp = async (outbox: { config: Record<string, unknown> }, credential: string, identifier: string) => {
    const cfg = outbox.config as unknown as LinkedInConfig;
    const profile = await callProvider(
      {
        prefix: 'unipile',
        label: 'Unipile',
        headers: { 'x-api-key': credential },
        credential,
        readError: readUnipileError,
        method: 'GET',
        url: joinUrl(cfg.baseUrl, `api/v1/users/${encodeURIComponent(identifier)}?account_id=${encodeURIComponent(cfg.accountId)}`),
        idempotent: true,
      },
      options,
    );
    const id = field(profile.body, 'provider_id');
    if (typeof id !== 'string' || !LINKEDIN_PROVIDER_ID.test(id))
      throw new ChannelError('unipile_recipient_unresolved', 'Unipile returned no LinkedIn id for the recipient');
    const publicIdentifier = field(profile.body, 'public_identifier');
    return { providerId: id, publicIdentifier: typeof publicIdentifier === 'string' ? publicIdentifier : null };
  };
  return {
    // The member as Unipile knows them, whichever name `to` gave: their id to send to, and their other names
    // (the profile, the id as written) for the allowlist and the suppressions. One profile read per send,
    // also for a `to` that is an id already: that read is how a suppressed profile URL is known to be this id.
    async resolveRecipient(outbox, credential, to) {
      const r = linkedInRecipient(to);
      if (!r) throw new ChannelError('unipile_recipient_invalid', 'to is not a LinkedIn profile URL (linkedin.com/in/<identifier>)');
      const asked = 'providerId' in r ? r.providerId : r.identifier;
      const found = await lookUp(outbox, credential, asked);
      const aliases = new Set<string>();
      if ('identifier' in r) aliases.add(LINKEDIN_PROFILE_PREFIX + r.identifier);
      else if (r.providerId !== found.providerId) aliases.add(r.providerId);
      const profile = found.publicIdentifier === null ? null : canonicalLinkedIn(found.publicIdentifier);
      if (profile?.startsWith(LINKEDIN_PROFILE_PREFIX)) aliases.add(profile);
      return { to: found.providerId, aliases: [...aliases] };
    },
    async send(outbox, credential, message) {
      const cfg = outbox.config as unknown as LinkedInConfig;
      const p = message.payload as unknown as LinkedInPayload;
      const common = { prefix: 'unipile', label: 'Unipile', headers: { 'x-api-key': credential }, credential, readError: readUnipileError };
      const url = (path: string) => joinUrl(cfg.baseUrl, path);

      const r = linkedInRecipient(message.to);
      if (!r) throw new ChannelError('unipile_recipient_invalid', 'to is not a LinkedIn profile URL (linkedin.com/in/<identifier>)');
      const providerId = 'providerId' in r ? r.providerId : (await lookUp(outbox, credential, r.identifier)).providerId;
      // A `to` that was a profile (a send requested before recipients were resolved): the member id found is how
      // Unipile's webhooks will name this person, so the send keeps it.
      const recipientAliases = 'providerId' in r ? {} : { recipientAliases: [providerId] };

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
        return { providerMessageId: typeof id === 'string' ? id : null, ...recipientAliases };
      }
      // Unipile documents this route as multipart/form-data only.
      const form = new FormData();
      form.set('account_id', cfg.accountId);
      form.set('attendees_ids', providerId);
      form.set('text', p.text ?? '');
      const reply = await callProvider({ ...common, method: 'POST', url: url('api/v1/chats'), body: form }, options);
      const id = field(reply.body, 'message_id') ?? field(reply.body, 'chat_id');
      return { providerMessageId: typeof id === 'string' ? id : null, ...recipientAliases };
    },
  };
}
