import { describe, expect, it } from 'vitest';
import {
  INSTANCE_SCOPE,
  type SealedValue,
  type SecretEvent,
  companyScope,
  inScope,
  namedSecretId,
  secretDecider,
} from '../../src/domain/secret.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-11-30T10:00:00.000Z';
const A = '6f1f3c1e-0000-4000-8000-00000000000a';
const B = '6f1f3c1e-0000-4000-8000-00000000000b';
const sealed = (data: string): SealedValue => ({ alg: 'aes-256-gcm', keyId: 'k1', iv: 'iv', tag: 'tag', data });

const created = (companyId: string | null): SecretEvent => ({
  type: 'SecretCreated',
  data: { secretId: 's1', companyId, name: 'hook-key', version: 1, sealed: sealed('v1'), createdBy: 'cli', createdAt: now },
});
const versionAdded = (companyId: string | null): SecretEvent => ({
  type: 'SecretVersionAdded',
  data: { secretId: 's1', companyId, version: 2, sealed: sealed('v2'), addedBy: 'board:u', addedAt: now },
});

describe('secret decider', () => {
  const s = spec(secretDecider);

  it('creates a company secret under its company, an instance secret under none', () => {
    s.given([])
      .when({ type: 'CreateSecret', secretId: 's1', scope: companyScope(A), name: 'hook-key', sealed: sealed('v1'), actor: 'cli', now })
      .then([created(A)]);
    s.given([])
      .when({ type: 'CreateSecret', secretId: 's1', scope: INSTANCE_SCOPE, name: 'hook-key', sealed: sealed('v1'), actor: 'cli', now })
      .then([created(null)]);
  });

  it('a name is taken once per owner: the id made from it, or a secret of that name made before (details: its id)', () => {
    const create = (over: Record<string, unknown> = {}) =>
      ({
        type: 'CreateSecret',
        secretId: 's1',
        scope: companyScope(A),
        name: 'hook-key',
        sealed: sealed('v1'),
        actor: 'cli',
        now,
        ...over,
      }) as const;
    s.given([created(A)])
      .when(create())
      .thenThrows('conflict', { id: 's1' });
    s.given([])
      .when(create({ sameNameAs: 'legacy-id' }))
      .thenThrows('conflict', { id: 'legacy-id' });
    s.given([])
      .when(create({ sameNameAs: null }))
      .then([created(A)]);
  });

  it('one name, one id, per owner: case and spaces aside; another owner’s is another id', () => {
    expect(namedSecretId(companyScope(A), ' SMTP ')).toBe(namedSecretId(companyScope(A), 'smtp'));
    expect(namedSecretId(companyScope(B), 'smtp')).not.toBe(namedSecretId(companyScope(A), 'smtp'));
    expect(namedSecretId(INSTANCE_SCOPE, 'smtp')).not.toBe(namedSecretId(companyScope(A), 'smtp'));
  });

  it('never creates twice under one id', () => {
    s.given([created(null)])
      .when({ type: 'CreateSecret', secretId: 's1', scope: companyScope(A), name: 'x', sealed: sealed('v'), actor: 'cli', now })
      .thenThrows('conflict');
  });

  it('versions a secret in its own scope only: a company cannot version the instance’s, nor another company’s', () => {
    const add = (scope: ReturnType<typeof companyScope>) => ({
      type: 'AddSecretVersion' as const,
      secretId: 's1',
      scope,
      sealed: sealed('v2'),
      actor: 'board:u',
      now,
    });
    s.given([created(null)])
      .when(add(INSTANCE_SCOPE))
      .then([versionAdded(null)]);
    s.given([created(null)])
      .when(add(companyScope(A)))
      .thenThrows('not_found');
    s.given([created(A)])
      .when(add(companyScope(A)))
      .then([versionAdded(A)]);
    s.given([created(A)])
      .when(add(companyScope(B)))
      .thenThrows('not_found');
    // The instance does not take a company's secret over either.
    s.given([created(A)])
      .when(add(INSTANCE_SCOPE))
      .thenThrows('not_found');
    s.given([]).when(add(INSTANCE_SCOPE)).thenThrows('not_found');
  });

  it('a secret is in exactly one scope', () => {
    const fold = (events: SecretEvent[]) => events.reduce(secretDecider.evolve, secretDecider.initialState());
    expect(inScope(fold([created(null), versionAdded(null)]), INSTANCE_SCOPE)).toBe(true);
    expect(inScope(fold([created(null)]), companyScope(A))).toBe(false);
    expect(inScope(fold([created(A)]), INSTANCE_SCOPE)).toBe(false);
    expect(inScope(fold([created(A)]), companyScope(A))).toBe(true);
    expect(inScope(fold([]), INSTANCE_SCOPE)).toBe(false);
  });
});
