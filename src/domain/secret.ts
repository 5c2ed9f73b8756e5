import { type Decider, type DomainEvent, DomainError } from './decider.js';

export const secretStream = (secretId: string) => `crm_secret-${secretId}`;

/** A value encrypted with AES-256-GCM under the master key `keyId`; all fields base64 but keyId. */
export interface SealedValue {
  alg: 'aes-256-gcm';
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

export type SecretCommand =
  | { type: 'CreateSecret'; secretId: string; companyId: string; name: string; sealed: SealedValue; actor: string; now: string }
  | { type: 'AddSecretVersion'; secretId: string; companyId: string; sealed: SealedValue; actor: string; now: string };

export type SecretEvent =
  | DomainEvent<'SecretCreated', { secretId: string; companyId: string; name: string; version: 1; sealed: SealedValue; createdBy: string; createdAt: string }>
  | DomainEvent<'SecretVersionAdded', { secretId: string; companyId: string; version: number; sealed: SealedValue; addedBy: string; addedAt: string }>;

export type SecretState =
  | { exists: false }
  | { exists: true; companyId: string; name: string; versions: Map<number, SealedValue>; latest: number };

export const secretDecider: Decider<SecretCommand, SecretState, SecretEvent> = {
  initialState: () => ({ exists: false }),

  evolve(state, event) {
    switch (event.type) {
      case 'SecretCreated':
        return { exists: true, companyId: event.data.companyId, name: event.data.name, versions: new Map([[1, event.data.sealed]]), latest: 1 };
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
        if (state.exists) throw new DomainError('conflict', 'secret id already used');
        return [
          {
            type: 'SecretCreated',
            data: {
              secretId: command.secretId,
              companyId: command.companyId,
              name: command.name,
              version: 1,
              sealed: command.sealed,
              createdBy: command.actor,
              createdAt: command.now,
            },
          },
        ];
      case 'AddSecretVersion':
        // Another company's secret is indistinguishable from a missing one.
        if (!state.exists || state.companyId !== command.companyId) throw new DomainError('not_found', 'secret not found');
        return [
          {
            type: 'SecretVersionAdded',
            data: {
              secretId: command.secretId,
              companyId: command.companyId,
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
