import { type Decider, type DomainEvent, DomainError } from './decider.js';
import { derivedUuid } from './derived-id.js';

export const secretStream = (secretId: string) => `crm_secret-${secretId}`;

/** A value encrypted with AES-256-GCM under the master key `keyId`; all fields base64 but keyId. */
export interface SealedValue {
  alg: 'aes-256-gcm';
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

/**
 * Whose a secret is. A company's is managed by that company's board users and used by its outboxes. The
 * instance's is managed by operators only (the CLI, instance admins) and used by instance configuration, such
 * as the post-issue hooks that run for every company: a company must not choose the key those sign with.
 */
export type SecretScope = { kind: 'company'; companyId: string } | { kind: 'instance' };

export const companyScope = (companyId: string): SecretScope => ({ kind: 'company', companyId });
export const INSTANCE_SCOPE: SecretScope = Object.freeze({ kind: 'instance' });

/** What events and read models record as the owner: the company's id, or null for the instance. */
export const scopeOwner = (scope: SecretScope): string | null => (scope.kind === 'company' ? scope.companyId : null);

/** A secret belongs to exactly one scope: a company's never serves the instance, nor the reverse. */
export const inScope = (state: SecretState, scope: SecretScope): boolean => state.exists && state.companyId === scopeOwner(scope);

/** Names are one per owner, told apart without case, Unicode normalisation or surrounding spaces. */
export const secretNameKey = (name: string) => name.trim().normalize('NFC').toLowerCase();

/**
 * A secret's id is made from its owner and its name: the stream is the name's claim, so two creates of one name
 * are two appends to one stream expecting none, and only one succeeds, whatever the number of processes.
 */
export const namedSecretId = (scope: SecretScope, name: string) =>
  derivedUuid('crm_secret', scopeOwner(scope) ?? 'instance', secretNameKey(name));

export type SecretCommand =
  | {
      type: 'CreateSecret';
      secretId: string;
      scope: SecretScope;
      name: string;
      sealed: SealedValue;
      /** A secret of this name made before ids came from names (its id is random), if the read model has one. */
      sameNameAs?: string | null;
      actor: string;
      now: string;
    }
  | { type: 'AddSecretVersion'; secretId: string; scope: SecretScope; sealed: SealedValue; actor: string; now: string };

/** `companyId` null: an instance secret (events written before instance secrets existed are all companies'). */
export type SecretEvent =
  | DomainEvent<
      'SecretCreated',
      { secretId: string; companyId: string | null; name: string; version: 1; sealed: SealedValue; createdBy: string; createdAt: string }
    >
  | DomainEvent<
      'SecretVersionAdded',
      { secretId: string; companyId: string | null; version: number; sealed: SealedValue; addedBy: string; addedAt: string }
    >;

export type SecretState =
  { exists: false } | { exists: true; companyId: string | null; name: string; versions: Map<number, SealedValue>; latest: number };

export const secretDecider: Decider<SecretCommand, SecretState, SecretEvent> = {
  initialState: () => ({ exists: false }),

  evolve(state, event) {
    switch (event.type) {
      case 'SecretCreated':
        return {
          exists: true,
          companyId: event.data.companyId,
          name: event.data.name,
          versions: new Map([[1, event.data.sealed]]),
          latest: 1,
        };
      case 'SecretVersionAdded': {
        if (!state.exists) return state;
        const versions = new Map(state.versions);
        versions.set(event.data.version, event.data.sealed);
        return { ...state, versions, latest: event.data.version };
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'CreateSecret':
        // Secrets cannot be deleted, so a name stays taken: a new version is how a value changes.
        if (state.exists) throw new DomainError('conflict', 'a secret of this name already exists', { id: command.secretId });
        if (command.sameNameAs) throw new DomainError('conflict', 'a secret of this name already exists', { id: command.sameNameAs });
        return [
          {
            type: 'SecretCreated',
            data: {
              secretId: command.secretId,
              companyId: scopeOwner(command.scope),
              name: command.name,
              version: 1,
              sealed: command.sealed,
              createdBy: command.actor,
              createdAt: command.now,
            },
          },
        ];
      case 'AddSecretVersion':
        // Another company's secret, or the instance's, is indistinguishable from a missing one.
        if (!state.exists || !inScope(state, command.scope)) throw new DomainError('not_found', 'secret not found');
        return [
          {
            type: 'SecretVersionAdded',
            data: {
              secretId: command.secretId,
              companyId: state.companyId,
              version: state.latest + 1,
              sealed: command.sealed,
              addedBy: command.actor,
              addedAt: command.now,
            },
          },
        ];
    }
  },
};
