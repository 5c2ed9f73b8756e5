import { isBackendDown } from '../../backend-errors.js';
import { ChannelError } from '../../channels/port.js';
import type { ActivityError } from '../../domain/activity.js';
import type { OutboxChannel } from '../../domain/channels.js';
import { DomainError } from '../../domain/decider.js';
import { canonicalRecipient } from '../../domain/recipients.js';
import { type SuppressionState, suppressionDecider, suppressionStreamsFor } from '../../domain/suppression.js';
import { SecretDecryptionError } from '../../secrets/crypto.js';
import type { SecretState } from '../../domain/secret.js';
import type { AggregateCache } from '../aggregate-cache.js';
import type { LiveOutbox, SendContext } from './context.js';
import { credentialOf } from './credential.js';

/** A recipient's suppression streams and their states, as far as they were read. */
export type LoadedSuppressions = Map<string, SuppressionState>;

/** The suppressions of a recipient's keys on `channel`: those `loaded` has, and the others in one more read. */
export async function suppressionsOf(
  cache: AggregateCache,
  companyId: string,
  keys: readonly string[],
  channel: OutboxChannel,
  loaded: LoadedSuppressions,
): Promise<SuppressionState[]> {
  const streams = suppressionStreamsFor(companyId, keys, channel);
  const missing = streams.filter((st) => !loaded.has(st));
  if (missing.length > 0) {
    const states = await cache.load(missing.map((streamName) => ({ streamName, decider: suppressionDecider })));
    missing.forEach((st, i) => loaded.set(st, states[i] as SuppressionState));
  }
  return streams.map((st) => loaded.get(st)!);
}

/** What the activity records of a failure to reach the provider: its own code, or what kind of failure it was. */
export function failureOf(err: unknown): ActivityError {
  if (err instanceof ChannelError) return { code: err.code, message: err.message, ...err.details };
  if (err instanceof DomainError) return { code: 'credential_unavailable', message: 'the outbox credential cannot be resolved' };
  if (err instanceof SecretDecryptionError)
    return { code: 'secret_unreadable', message: 'the outbox credential cannot be opened with the secrets master key of this instance' };
  return { code: 'adapter_error', message: 'the channel adapter failed' };
}

/** What an adapter is told of the outbox it sends through. */
export const forAdapter = (outbox: LiveOutbox) => ({
  outboxId: outbox.outboxId,
  companyId: outbox.companyId,
  channel: outbox.channel,
  config: outbox.config,
});

/** Whether the outbox's channel names a recipient in several ways that only its provider can tie together. */
export const resolvesRecipients = (ctx: SendContext, outbox: LiveOutbox) =>
  ctx.deps.adapters[outbox.channel].resolveRecipient !== undefined;

/**
 * Asks the outbox's provider which recipient a canonical `to` is (`ChannelAdapter.resolveRecipient`), with
 * the outbox's credential. A read, before any check or quota; what it cannot tell is the send's failure.
 */
export async function resolveRecipient(
  ctx: SendContext,
  outbox: LiveOutbox,
  to: string,
  activityId: string,
  secret?: SecretState,
): Promise<{ to: string; aliases: string[] } | { error: ActivityError }> {
  try {
    const credential = await credentialOf(ctx, outbox, activityId, secret);
    const r = await ctx.deps.adapters[outbox.channel].resolveRecipient!(forAdapter(outbox), credential, to);
    // What comes back is named as any recipient is: canonical, or the provider's answer is not used.
    const resolved = canonicalRecipient(outbox.channel, r.to);
    if (resolved === null)
      return { error: { code: `${outbox.channel}_recipient_unresolved`, message: 'the provider named the recipient in an unknown form' } };
    return { to: resolved, aliases: r.aliases };
  } catch (err) {
    if (isBackendDown(err)) throw err;
    return { error: failureOf(err) };
  }
}
