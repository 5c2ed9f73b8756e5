import { DomainError } from '../domain/decider.js';
import {
  INSTANCE_SCOPE,
  type SecretScope,
  type SecretState,
  companyScope,
  inScope,
  namedSecretId,
  scopeOwner,
  secretDecider,
  secretStream,
} from '../domain/secret.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { type MasterKey, open, seal } from '../secrets/crypto.js';
import { type SecretRef, formatSecretRef, parseSecretRef } from '../secrets/secret-ref.js';
import { secretIdNamed } from '../projections/secrets.js';
import type { Queryable } from '../sql/db.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import { loadAggregate } from './handle-command.js';

const secret = commandHandlerFor(secretDecider, secretStream);

export interface StoredSecret {
  id: string;
  version: number;
  ref: string;
  position: Position | null;
}

/**
 * A company's secret: its board users manage it, its outboxes use it. Its name is the company's only one (409
 * with the holder's id otherwise). `readModel` finds the holder among secrets made before names were unique.
 */
export async function createSecret(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; name: string; value: string },
  actor: Actor,
  now: Date,
  readModel?: Queryable,
): Promise<StoredSecret> {
  return create(store, master, companyScope(input.companyId), input, actor, now, readModel);
}

/** An instance secret, for instance configuration (post-issue hooks): operators only, never a company. */
export async function createInstanceSecret(
  store: EventStore,
  master: MasterKey,
  input: { name: string; value: string },
  actor: Actor,
  now: Date,
  readModel?: Queryable,
): Promise<StoredSecret> {
  return create(store, master, INSTANCE_SCOPE, input, actor, now, readModel);
}

/** A new version of a company's secret; another company's, or an instance secret, is not found (404). */
export async function addSecretVersion(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; secretId: string; value: string },
  actor: Actor,
  now: Date,
): Promise<StoredSecret> {
  return addVersion(store, master, companyScope(input.companyId), input, actor, now);
}

/** A new version of an instance secret; a company's is not found (404). */
export async function addInstanceSecretVersion(
  store: EventStore,
  master: MasterKey,
  input: { secretId: string; value: string },
  actor: Actor,
  now: Date,
): Promise<StoredSecret> {
  return addVersion(store, master, INSTANCE_SCOPE, input, actor, now);
}

async function create(
  store: EventStore,
  master: MasterKey,
  scope: SecretScope,
  input: { name: string; value: string },
  actor: Actor,
  now: Date,
  readModel: Queryable | undefined,
): Promise<StoredSecret> {
  const secretId = namedSecretId(scope, input.name);
  const sameNameAs = readModel ? await secretIdNamed(readModel, scopeOwner(scope), input.name) : null;
  const sealed = seal(master, input.value, secretId);
  const r = await secret(store, secretId, { actor, now }, (s) => ({
    type: 'CreateSecret',
    secretId,
    scope,
    name: input.name,
    sealed,
    sameNameAs,
    actor: s.by,
    now: s.now,
  }));
  return { id: secretId, version: 1, ref: formatSecretRef(secretId), position: r.position };
}

async function addVersion(
  store: EventStore,
  master: MasterKey,
  scope: SecretScope,
  input: { secretId: string; value: string },
  actor: Actor,
  now: Date,
): Promise<StoredSecret> {
  const sealed = seal(master, input.value, input.secretId);
  const r = await secret(store, input.secretId, { actor, now }, (s) => ({
    type: 'AddSecretVersion',
    secretId: input.secretId,
    scope,
    sealed,
    actor: s.by,
    now: s.now,
  }));
  const version = r.state.exists ? r.state.latest : 0;
  return { id: input.secretId, version, ref: formatSecretRef(input.secretId), position: r.position };
}

export interface ResolvedSecret {
  secretId: string;
  version: number;
  value: string;
}

/**
 * Resolves `secret://<id>:<version|latest>` in a scope: the only way a secret value leaves the store, for a
 * channel adapter, a webhook check or a post-issue hook. A malformed reference is invalid input (400); a
 * reference to a missing secret, to one of another scope (another company's, a company's for the instance, the
 * instance's for a company), or to a version that does not exist cannot be used (422).
 */
export async function resolveSecret(store: EventStore, master: MasterKey, ref: string, scope: SecretScope): Promise<ResolvedSecret> {
  const parsed = parseSecretRef(ref);
  if (!parsed) throw new DomainError('invalid_input', 'secretRef must be secret://<uuid>:<version|latest>');
  const { state } = await loadAggregate(store, secretStream(parsed.secretId), secretDecider);
  return openInScope(state, parsed, master, scope);
}

/** The value a parsed reference names in a loaded secret of the company (422 when refused). */
export function openSecret(state: SecretState, parsed: SecretRef, master: MasterKey, companyId: string): ResolvedSecret {
  return openInScope(state, parsed, master, companyScope(companyId));
}

const HOW_TO_STORE = "store one with 'crm secret put --instance' or POST /api/admin/secrets";

function openInScope(state: SecretState, parsed: SecretRef, master: MasterKey, scope: SecretScope): ResolvedSecret {
  if (!state.exists || !inScope(state, scope)) {
    // To a company, an instance secret is as unknown as another company's. Only operators read the instance
    // message, and they may know that the secret is a company's (not whose).
    if (scope.kind === 'company') throw new DomainError('invalid_state', 'secretRef does not name a secret of this company');
    throw new DomainError(
      'invalid_state',
      state.exists
        ? `secretRef names a company's secret: instance configuration takes only instance secrets (${HOW_TO_STORE})`
        : `secretRef does not name an instance secret (${HOW_TO_STORE})`,
    );
  }
  const version = parsed.version === 'latest' ? state.latest : parsed.version;
  const sealed = state.versions.get(version);
  if (!sealed) throw new DomainError('invalid_state', `secretRef names version ${version}, which does not exist`);
  return { secretId: parsed.secretId, version, value: open(master, sealed, parsed.secretId) };
}
