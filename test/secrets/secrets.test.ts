import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { createSecret, resolveSecret } from '../../src/commands/secrets.js';
import { ConfigError } from '../../src/config.js';
import { DomainError } from '../../src/domain/decider.js';
import { INSTANCE_SCOPE, companyScope, secretStream } from '../../src/domain/secret.js';
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
  it.each([
    'secret://x:latest',
    'secret://0b3c5d1e-1234-4abc-9def-0123456789ab',
    'secret://0b3c5d1e-1234-4abc-9def-0123456789ab:0',
    'http://a:1',
    '',
  ])('refuses %j', (text) => {
    expect(parseSecretRef(text)).toBeNull();
  });
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
      const created = await request(t.app)
        .post(`/api/companies/${A}/crm/secrets`)
        .send({ name: 'smtp', value: 'smtp://u:first-pass@h:25' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), version: 1, ref: `secret://${created.body.id}:latest` });
      const id = created.body.id as string;

      const rotated = await request(t.app)
        .post(`/api/companies/${A}/crm/secrets/${id}/versions`)
        .send({ value: 'smtp://u:second-pass@h:25' });
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
      expect((await resolveSecret(store, masterKey, `secret://${id}:latest`, companyScope(A))).value).toBe('smtp://u:second-pass@h:25');
      expect((await resolveSecret(store, masterKey, `secret://${id}:1`, companyScope(A))).value).toBe('smtp://u:first-pass@h:25');
      await expect(resolveSecret(store, masterKey, `secret://${id}:3`, companyScope(A))).rejects.toMatchObject({ kind: 'invalid_state' });
      await expect(resolveSecret(store, masterKey, `secret://${id}:latest`, companyScope(B))).rejects.toMatchObject({
        kind: 'invalid_state',
      });
      await expect(resolveSecret(store, masterKey, `secret://${randomUUID()}:latest`, companyScope(A))).rejects.toBeInstanceOf(DomainError);
      await expect(resolveSecret(store, masterKey, 'secret://nope', companyScope(A))).rejects.toMatchObject({ kind: 'invalid_input' });
    });

    it('rotating another company’s secret is 404, and bad bodies are 400 that change nothing', async () => {
      const s = await createSecret(t.rt.store, t.rt.masterKey, { companyId: B, name: 'b', value: 'b-value' }, LOCAL_OPERATOR, new Date());
      expect((await request(t.app).post(`/api/companies/${A}/crm/secrets/${s.id}/versions`).send({ value: 'x' })).status).toBe(404);
      expect((await request(t.app).post(`/api/companies/${A}/crm/secrets/not-a-uuid/versions`).send({ value: 'x' })).status).toBe(400);
      for (const body of [
        { name: 'x' },
        { name: 'x', value: '' },
        { name: 'x', value: 'v', extra: 1 },
        { name: 'x', value: 'v'.repeat(20_000) },
        { value: 5 },
      ]) {
        const res = await request(t.app).post(`/api/companies/${A}/crm/secrets`).send(body);
        expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      }
      expect((await request(t.app).post(`/api/companies/${B}/crm/secrets/${s.id}/versions`).send({ value: 5 })).status).toBe(400);
      const events = await t.rt.store.readStream(secretStream(s.id));
      expect(events).toHaveLength(1);
    });

    it('instance secrets: created, listed and rotated by instance admins; no company can list, version or use one', async () => {
      const created = await request(t.app).post('/api/admin/secrets').send({ name: 'hooks-signing-key', value: 'instance-value-1' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), version: 1, ref: `secret://${created.body.id}:latest` });
      const id = created.body.id as string;
      const rotated = await request(t.app).post(`/api/admin/secrets/${id}/versions`).send({ value: 'instance-value-2' });
      expect([rotated.status, rotated.body.version]).toEqual([201, 2]);
      const list = await request(t.app).get('/api/admin/secrets');
      expect(list.body.items).toEqual([
        expect.objectContaining({ id, name: 'hooks-signing-key', latestVersion: 2, ref: `secret://${id}:latest` }),
      ]);
      expect(JSON.stringify(list.body)).not.toContain('instance-value');

      // A company's routes: not listed, and versioning it is the 404 of any foreign secret.
      expect((await request(t.app).get(`/api/companies/${A}/crm/secrets`)).body.items.map((i: { id: string }) => i.id)).not.toContain(id);
      const foreign = await request(t.app).post(`/api/companies/${A}/crm/secrets/${id}/versions`).send({ value: 'chosen-by-a-company' });
      expect(foreign.status).toBe(404);
      expect(foreign.body).toEqual({ error: 'secret not found' });
      // Nor can a company use it as a credential: the 422 of another company's secret.
      const outbox = await request(t.app)
        .post(`/api/companies/${A}/crm/outboxes`)
        .send({ channel: 'email', secretRef: created.body.ref, config: { fromAddress: 'ops@example.com' } });
      expect(outbox.status).toBe(422);
      expect(outbox.body.error).toBe('secretRef does not name a secret of this company');

      // And the admin routes do not take a company's secret.
      const companySecret = await request(t.app)
        .post(`/api/companies/${A}/crm/secrets`)
        .send({ name: 'company-only', value: 'company-value' });
      expect((await request(t.app).post(`/api/admin/secrets/${companySecret.body.id}/versions`).send({ value: 'x' })).status).toBe(404);
      expect((await request(t.app).get('/api/admin/secrets')).body.items.map((i: { id: string }) => i.id)).toEqual([id]);
      expect((await t.rt.store.readStream(secretStream(id))).length).toBe(2);
      expect((await t.rt.store.readStream(secretStream(companySecret.body.id))).length).toBe(1);

      const { store, masterKey } = t.rt;
      expect((await resolveSecret(store, masterKey, created.body.ref, INSTANCE_SCOPE)).value).toBe('instance-value-2');
      expect((await resolveSecret(store, masterKey, `secret://${id}:1`, INSTANCE_SCOPE)).value).toBe('instance-value-1');
      await expect(resolveSecret(store, masterKey, created.body.ref, companyScope(A))).rejects.toMatchObject({ kind: 'invalid_state' });
      await expect(resolveSecret(store, masterKey, companySecret.body.ref, INSTANCE_SCOPE)).rejects.toMatchObject({
        kind: 'invalid_state',
        message: expect.stringContaining("names a company's secret"),
      });

      for (const body of [{ name: 'x' }, { name: 'x', value: '' }, { name: 'x', value: 'v', companyId: A }]) {
        expect((await request(t.app).post('/api/admin/secrets').send(body)).status, JSON.stringify(body)).toBe(400);
      }
      expect((await request(t.app).post('/api/admin/secrets/not-a-uuid/versions').send({ value: 'x' })).status).toBe(400);
      expect((await request(t.app).get('/api/admin/secrets')).body.items).toHaveLength(1);
    });
  });
}

secretsSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => secretsSuite('postgres'));
