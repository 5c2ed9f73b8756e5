import { randomUUID } from 'node:crypto';
import { DomainError } from '../domain/decider.js';
import { type SecretState, secretDecider, secretStream } from '../domain/secret.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { type MasterKey, open, seal } from '../secrets/crypto.js';
import { type SecretRef, formatSecretRef, parseSecretRef } from '../secrets/secret-ref.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { handleCommand, loadAggregate } from './handle-command.js';

export interface StoredSecret {
  id: string;
  version: number;
  ref: string;
  position: Position | null;
}

export async function createSecret(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; name: string; value: string },
  actor: Actor,
  now: Date,
): Promise<StoredSecret> {
  const secretId = randomUUID();
  const r = await handleCommand(
    store,
    secretStream(secretId),
    secretDecider,
    {
      type: 'CreateSecret',
      secretId,
      companyId: input.companyId,
      name: input.name,
      sealed: seal(master, input.value, secretId),
      actor: actorLabel(actor),
      now: now.toISOString(),
    },
    actorMetadata(actor),
  );
  return { id: secretId, version: 1, ref: formatSecretRef(secretId), position: r.position };
}

export async function addSecretVersion(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; secretId: string; value: string },
  actor: Actor,
  now: Date,
): Promise<StoredSecret> {
  const r = await handleCommand(
    store,
    secretStream(input.secretId),
    secretDecider,
    {
      type: 'AddSecretVersion',
      secretId: input.secretId,
      companyId: input.companyId,
      sealed: seal(master, input.value, input.secretId),
      actor: actorLabel(actor),
      now: now.toISOString(),
    },
    actorMetadata(actor),
  );
  const version = r.state.exists ? r.state.latest : 0;
  return { id: input.secretId, version, ref: formatSecretRef(input.secretId), position: r.position };
}

export interface ResolvedSecret {
  secretId: string;
  version: number;
  value: string;
}

/**
 * Resolves `secret://<id>:<version|latest>` for a company: the only way a secret value leaves the store,
 * for a channel adapter. A malformed reference is invalid input (400); a reference to a missing secret, to
 * another company's, or to a version that does not exist cannot be used (422).
 */
export async function resolveSecret(
  store: EventStore,
  master: MasterKey,
  ref: string,
  /** The company the reference must belong to; null only for instance-level configuration written by operators. */
  companyId: string | null,
): Promise<ResolvedSecret> {
  const parsed = parseSecretRef(ref);
  if (!parsed) throw new DomainError('invalid_input', 'secretRef must be secret://<uuid>:<version|latest>');
  const { state } = await loadAggregate(store, secretStream(parsed.secretId), secretDecider);
  return openSecret(state, parsed, master, companyId);
}

/** The value a parsed reference names in a loaded secret, after the company check (422 when refused). */
export function openSecret(state: SecretState, parsed: SecretRef, master: MasterKey, companyId: string | null): ResolvedSecret {
  if (!state.exists || (companyId !== null && state.companyId !== companyId)) {
    throw new DomainError('invalid_state', 'secretRef does not name a secret of this company');
  }
  const version = parsed.version === 'latest' ? state.latest : parsed.version;
  const sealed = state.versions.get(version);
  if (!sealed) throw new DomainError('invalid_state', `secretRef names version ${version}, which does not exist`);
  return { secretId: parsed.secretId, version, value: open(master, sealed, parsed.secretId) };
}
