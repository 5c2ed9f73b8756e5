import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { createSecret } from '../../src/commands/secrets.js';
import { DomainError } from '../../src/domain/decider.js';
import { secretStream } from '../../src/domain/secret.js';
import { createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import { masterKeyFrom, seal } from '../../src/secrets/crypto.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, postgresDatabase } from '../support/databases.js';

function suite(backend: 'pglite' | 'postgres') {
  describe(`secret names are unique per owner, on ${backend}`, () => {
    let t: TestApp;
    const secrets = (companyId: string) => `/api/companies/${companyId}/crm/secrets`;
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(() => t?.close());

    it('a second secret of a name is a 409 naming the first, whatever its case or surrounding spaces; nothing is written', async () => {
      const companyId = randomUUID();
      const first = await request(t.app).post(secrets(companyId)).send({ name: 'smtp', value: 'smtp://a' });
      expect(first.status).toBe(201);
      for (const name of ['smtp', ' SMTP ']) {
        const again = await request(t.app).post(secrets(companyId)).send({ name, value: 'smtp://b' });
        expect(again.status, name).toBe(409);
        expect(again.body).toEqual({ error: expect.stringContaining('already'), details: { id: first.body.id } });
      }
      const items = (await request(t.app).get(secrets(companyId))).body.items as { id: string; latestVersion: number }[];
      expect(items).toEqual([expect.objectContaining({ id: first.body.id, latestVersion: 1 })]);
    });

    it('names are per owner: another company, and the instance, may use the same name; two instance secrets may not', async () => {
      const name = `shared-${randomUUID()}`;
      expect((await request(t.app).post(secrets(randomUUID())).send({ name, value: 'a' })).status).toBe(201);
      expect((await request(t.app).post(secrets(randomUUID())).send({ name, value: 'b' })).status).toBe(201);
      const instance = await request(t.app).post('/api/admin/secrets').send({ name, value: 'c' });
      expect(instance.status).toBe(201);
      const twice = await request(t.app).post('/api/admin/secrets').send({ name, value: 'd' });
      expect(twice.status).toBe(409);
      expect(twice.body.details).toEqual({ id: instance.body.id });
    });

    it('two creates of one name at once: exactly one 201 and one 409', async () => {
      for (let round = 0; round < 3; round++) {
        const companyId = randomUUID();
        const replies = await Promise.all(
          [1, 2].map((i) =>
            request(t.app)
              .post(secrets(companyId))
              .send({ name: 'smtp', value: `v${i}` }),
          ),
        );
        expect(replies.map((r) => r.status).sort()).toEqual([201, 409]);
        const created = replies.find((r) => r.status === 201)!;
        expect(replies.find((r) => r.status === 409)!.body.details).toEqual({ id: created.body.id });
      }
    });

    it('a secret stored before names were unique still holds its name', async () => {
      const companyId = randomUUID();
      const secretId = randomUUID();
      const r = await t.rt.store.append(
        secretStream(secretId),
        [
          {
            type: 'SecretCreated',
            data: {
              secretId,
              companyId,
              name: 'legacy',
              version: 1,
              sealed: seal(t.rt.masterKey, 'old', secretId),
              createdBy: 'board:u',
              createdAt: new Date().toISOString(),
            },
          },
        ],
        'no_stream',
      );
      await t.rt.engine.waitFor(r.position);
      const res = await request(t.app).post(secrets(companyId)).send({ name: 'Legacy', value: 'new' });
      expect(res.status).toBe(409);
      expect(res.body.details).toEqual({ id: secretId });
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => {
  suite('postgres');

  it('holds across processes: two event stores on their own connections to one database, creating one name at once', async () => {
    const d = await postgresDatabase(4);
    try {
      const master = masterKeyFrom(Buffer.alloc(32, 9));
      const stores = await Promise.all([createSqlEventStore(d.db), createSqlEventStore(d.connect())]);
      const companyId = randomUUID();
      const outcomes = await Promise.allSettled(
        stores.map((store, i) => createSecret(store, master, { companyId, name: 'smtp', value: `v${i}` }, LOCAL_OPERATOR, new Date())),
      );
      expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toBeInstanceOf(DomainError);
      expect((refused.reason as DomainError).kind).toBe('conflict');
      for (const s of stores) await s.close();
    } finally {
      await d.drop();
    }
  });
});
