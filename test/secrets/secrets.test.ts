import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { createSecret, resolveSecret } from '../../src/commands/secrets.js';
import { ConfigError } from '../../src/config.js';
import { DomainError } from '../../src/domain/decider.js';
import { secretStream } from '../../src/domain/secret.js';
import { SecretDecryptionError, masterKeyFrom, open, seal } from '../../src/secrets/crypto.js';
import { loadMasterKey } from '../../src/secrets/master-key.js';
import { parseSecretRef } from '../../src/secrets/secret-ref.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp, tempDir } from '../support/app.js';

describe('sealing', () => {
  const key = masterKeyFrom(Buffer.alloc(32, 1));
  it('round-trips, with a fresh IV each time', () => {
    const a = seal(key, 'hunter2', 'id-1');
    const b = seal(key, 'hunter2', 'id-1');
    expect(a.iv).not.toBe(b.iv);
    expect(a.data).not.toContain('hunter2');
    expect(open(key, a, 'id-1')).toBe('hunter2');
  });
  it('refuses a value bound to another secret, tampered, or sealed under another key', () => {
    const a = seal(key, 'hunter2', 'id-1');
    expect(() => open(key, a, 'id-2')).toThrow(SecretDecryptionError);
    const tampered = { ...a, data: Buffer.from('x').toString('base64') };
    expect(() => open(key, tampered, 'id-1')).toThrow(SecretDecryptionError);
    expect(() => open(masterKeyFrom(Buffer.alloc(32, 2)), a, 'id-1')).toThrow(SecretDecryptionError);
  });
});

describe('the master key', () => {
  it('comes from CRM_SECRETS_MASTER_KEY when set, and must be 32 bytes of base64', () => {
    const dir = tempDir();
    try {
      expect(loadMasterKey(Buffer.alloc(32, 3).toString('base64'), dir.path).key).toEqual(Buffer.alloc(32, 3));
      expect(() => loadMasterKey(Buffer.alloc(16).toString('base64'), dir.path)).toThrow(ConfigError);
      expect(() => loadMasterKey('not base64 at all!', dir.path)).toThrow(/CRM_SECRETS_MASTER_KEY/);
    } finally {
      dir.remove();
    }
  });
  it('is otherwise created once in the data folder with mode 0600, and kept', () => {
    const dir = tempDir();
    try {
      const first = loadMasterKey(undefined, dir.path);
      const file = join(dir.path, 'secrets.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(loadMasterKey(undefined, dir.path).id).toBe(first.id);
      chmodSync(file, 0o644);
      loadMasterKey(undefined, dir.path);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      writeFileSync(file, 'short');
      expect(() => loadMasterKey(undefined, dir.path)).toThrow(ConfigError);
      expect(readFileSync(file, 'utf8')).toBe('short');
    } finally {
      dir.remove();
    }
  });
});

describe('secret references', () => {
  it.each([
    ['secret://0b3c5d1e-1234-4abc-9def-0123456789ab:latest', { secretId: '0b3c5d1e-1234-4abc-9def-0123456789ab', version: 'latest' }],
    ['secret://0B3C5D1E-1234-4ABC-9DEF-0123456789AB:3', { secretId: '0b3c5d1e-1234-4abc-9def-0123456789ab', version: 3 }],
  ])('parses %s', (text, parsed) => {
    expect(parseSecretRef(text)).toEqual(parsed);
  });
  it.each(['secret://x:latest', 'secret://0b3c5d1e-1234-4abc-9def-0123456789ab', 'secret://0b3c5d1e-1234-4abc-9def-0123456789ab:0', 'http://a:1', ''])(
    'refuses %j',
    (text) => {
      expect(parseSecretRef(text)).toBeNull();
    },
  );
});

function secretsSuite(backend: 'pglite' | 'postgres') {
  describe(`secrets over HTTP on ${backend}`, () => {
    let t: TestApp;
    const A = randomUUID();
    const B = randomUUID();
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(() => t?.close());

    it('creates, lists metadata only, rotates, and resolves each version for its own company only', async () => {
      const created = await request(t.app).post(`/api/companies/${A}/crm/secrets`).send({ name: 'smtp', value: 'smtp://u:first-pass@h:25' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), version: 1, ref: `secret://${created.body.id}:latest` });
      const id = created.body.id as string;

      const rotated = await request(t.app).post(`/api/companies/${A}/crm/secrets/${id}/versions`).send({ value: 'smtp://u:second-pass@h:25' });
      expect(rotated.status).toBe(201);
      expect(rotated.body.version).toBe(2);

      const list = await request(t.app).get(`/api/companies/${A}/crm/secrets`);
      expect(list.body.items).toEqual([expect.objectContaining({ id, name: 'smtp', latestVersion: 2 })]);
      expect(JSON.stringify(list.body)).not.toMatch(/first-pass|second-pass/);
      expect((await request(t.app).get(`/api/companies/${B}/crm/secrets`)).body.items).toEqual([]);

      // At rest, in the log, the values are sealed.
      const events = await t.rt.store.readStream(secretStream(id));
      expect(JSON.stringify(events.map((e) => e.data))).not.toMatch(/first-pass|second-pass/);

      const { store, masterKey } = t.rt;
      expect((await resolveSecret(store, masterKey, `secret://${id}:latest`, A)).value).toBe('smtp://u:second-pass@h:25');
      expect((await resolveSecret(store, masterKey, `secret://${id}:1`, A)).value).toBe('smtp://u:first-pass@h:25');
      await expect(resolveSecret(store, masterKey, `secret://${id}:3`, A)).rejects.toMatchObject({ kind: 'invalid_state' });
      await expect(resolveSecret(store, masterKey, `secret://${id}:latest`, B)).rejects.toMatchObject({ kind: 'invalid_state' });
      await expect(resolveSecret(store, masterKey, `secret://${randomUUID()}:latest`, A)).rejects.toBeInstanceOf(DomainError);
      await expect(resolveSecret(store, masterKey, 'secret://nope', A)).rejects.toMatchObject({ kind: 'invalid_input' });
    });

    it('rotating another company’s secret is 404, and bad bodies are 400 that change nothing', async () => {
      const s = await createSecret(t.rt.store, t.rt.masterKey, { companyId: B, name: 'b', value: 'b-value' }, LOCAL_OPERATOR, new Date());
      expect((await request(t.app).post(`/api/companies/${A}/crm/secrets/${s.id}/versions`).send({ value: 'x' })).status).toBe(404);
      expect((await request(t.app).post(`/api/companies/${A}/crm/secrets/not-a-uuid/versions`).send({ value: 'x' })).status).toBe(400);
      for (const body of [{ name: 'x' }, { name: 'x', value: '' }, { name: 'x', value: 'v', extra: 1 }, { name: 'x', value: 'v'.repeat(20_000) }, { value: 5 }]) {
        const res = await request(t.app).post(`/api/companies/${A}/crm/secrets`).send(body);
        expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      }
      expect((await request(t.app).post(`/api/companies/${B}/crm/secrets/${s.id}/versions`).send({ value: 5 })).status).toBe(400);
      const events = await t.rt.store.readStream(secretStream(s.id));
      expect(events).toHaveLength(1);
    });
  });
}

secretsSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => secretsSuite('postgres'));
