import { DomainError } from '../../domain/decider.js';
import { type OutboxState } from '../../domain/outbox.js';
import { type SecretState, secretDecider, secretStream } from '../../domain/secret.js';
import { SecretDecryptionError } from '../../secrets/crypto.js';
import { parseSecretRef } from '../../secrets/secret-ref.js';
import { openSecret } from '../secrets.js';
import type { LiveOutbox, SendContext } from './context.js';

/** The secret an outbox state names, if any. */
export function secretIdOf(state: OutboxState | undefined): string | null {
  return state?.status === 'active' ? (parseSecretRef(state.fields.secretRef)?.secretId ?? null) : null;
}

/**
 * The outbox credential's value, for its adapter (`loaded`: the secret read with the send's other facts, when it
 * was). A value this instance's master key cannot open is logged: a key mismatch between instances, which only
 * the operator can mend (the secret's id under a name the logger does not redact; the value never).
 */
export async function credentialOf(ctx: SendContext, outbox: LiveOutbox, activityId: string, loaded?: SecretState): Promise<string> {
  const ref = parseSecretRef(outbox.secretRef);
  if (!ref) throw new DomainError('invalid_state', 'the outbox secretRef is malformed');
  const secret = loaded ?? (await ctx.cache.load([{ streamName: secretStream(ref.secretId), decider: secretDecider }] as const))[0];
  try {
    return openSecret(secret, ref, ctx.deps.masterKey, outbox.companyId).value;
  } catch (err) {
    if (err instanceof SecretDecryptionError) {
      ctx.logger.error('the outbox credential cannot be opened with the secrets master key of this instance', {
        activityId,
        outboxId: outbox.outboxId,
        credentialId: ref.secretId,
        error: err,
      });
    }
    throw err;
  }
}
