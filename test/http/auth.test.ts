import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenStream } from '../../src/domain/access-token.js';
import { createHttpServer } from '../../src/http/server.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';

function authSuite(backend: 'pglite' | 'postgres') {
  describe(`authentication and company scoping on ${backend}`, () => {
    let t: TestApp;
    let admin: string;
    const A = randomUUID();
    const B = randomUUID();
    const as = (token: string) => ({ authorization: `Bearer ${token}` });

    beforeAll(async () => {
      t = await startTestApp(backend, { config: { authMode: 'authenticated' } });
      admin = await adminToken(t.rt);
    });
    afterAll(() => t?.close());

    it('issues a board token shown once, usable at once, listed without secrets, revocable', async () => {
      const issued = await request(t.app)
        .post('/api/admin/board-tokens')
        .set(as(admin))
        .send({ userId: 'alice', companyIds: [A], ttlDays: 7 });
      expect(issued.status).toBe(201);
      expect(issued.body.token).toMatch(/^pcp_board_[0-9a-f]{48}$/);
      expect(new Date(issued.body.expiresAt).getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
      const alice = issued.body.token as string;

      expect((await request(t.app).get(`/api/companies/${A}/crm/secrets`).set(as(alice))).status).toBe(200);
      expect((await request(t.app).get(`/api/companies/${B}/crm/secrets`).set(as(alice))).status).toBe(403);

      const list = await request(t.app).get('/api/admin/board-tokens').set(as(admin));
      const mine = list.body.items.find((i: { id: string }) => i.id === issued.body.id);
      expect(mine).toMatchObject({ userId: 'alice', companyIds: [A], instanceAdmin: false, revokedAt: null });
      expect(mine.lastUsedAt).not.toBeNull();
      expect(JSON.stringify(list.body)).not.toMatch(/pcp_|token_?hash/i);

      // The event records who and when, never the token.
      const events = await t.rt.store.readStream(accessTokenStream(issued.body.id));
      expect(JSON.stringify(events.map((e) => [e.data, e.metadata]))).not.toContain(alice);
      expect(events[0]!.metadata.actor).toEqual({ type: 'board', id: 'test-admin' });

      expect((await request(t.app).delete(`/api/admin/board-tokens/${issued.body.id}`).set(as(admin))).status).toBe(204);
      expect((await request(t.app).get(`/api/companies/${A}/crm/secrets`).set(as(alice))).status).toBe(401);
      expect((await request(t.app).delete(`/api/admin/board-tokens/${issued.body.id}`).set(as(admin))).status).toBe(204);
      expect((await request(t.app).delete(`/api/admin/board-tokens/${randomUUID()}`).set(as(admin))).status).toBe(404);
    });

    it('an agent key acts for its company only, and cannot touch secrets or keys', async () => {
      const key = await request(t.app).post(`/api/companies/${A}/agent-keys`).set(as(admin)).send({ agentId: 'writer-bot' });
      expect(key.status).toBe(201);
      expect(key.body.token).toMatch(/^pcp_[0-9a-f]{48}$/);
      const agent = key.body.token as string;
      expect((await request(t.app).get(`/api/companies/${A}/crm/secrets`).set(as(agent))).status).toBe(403);
      expect((await request(t.app).get(`/api/companies/${B}/agent-keys`).set(as(agent))).status).toBe(403);
      const keys = await request(t.app).get(`/api/companies/${A}/agent-keys`).set(as(admin));
      expect(keys.body.items.map((k: { agentId: string }) => k.agentId)).toContain('writer-bot');
      // Another company's key is not found through this company's route.
      expect((await request(t.app).delete(`/api/companies/${B}/agent-keys/${key.body.id}`).set(as(admin))).status).toBe(404);
      expect((await request(t.app).delete(`/api/companies/${A}/agent-keys/${key.body.id}`).set(as(admin))).status).toBe(204);
      expect((await request(t.app).get(`/api/companies/${A}/agent-keys`).set(as(agent))).status).toBe(401);
    });

    it.each([
      ['no scheme', 'pcp_board_' + 'a'.repeat(48)],
      ['wrong scheme', 'Basic ' + 'pcp_board_' + 'a'.repeat(48)],
      ['wrong prefix', 'Bearer pcx_' + 'a'.repeat(48)],
      ['short', 'Bearer pcp_' + 'a'.repeat(47)],
      ['uppercase hex', 'Bearer pcp_' + 'A'.repeat(48)],
      ['trailing whitespace', 'Bearer pcp_' + 'a'.repeat(48) + ' '],
      ['inner whitespace', 'Bearer pcp_' + 'a'.repeat(24) + ' ' + 'a'.repeat(24)],
      ['two spaces', 'Bearer  pcp_' + 'a'.repeat(48)],
      ['oversized', 'Bearer ' + 'pcp_'.repeat(2000)],
      ['empty bearer', 'Bearer '],
    ])('a malformed Authorization header (%s) is a JSON 401', async (_what, header) => {
      const res = await request(t.app).get(`/api/companies/${A}/crm/secrets`).set('authorization', header);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'Unauthorized' });
    });

    it('the Bearer scheme is case-insensitive; anonymous callers get 401 before their body is read', async () => {
      expect((await request(t.app).get(`/api/companies/${A}/agent-keys`).set('authorization', `bearer ${admin}`)).status).toBe(200);
      const res = await request(t.app).post(`/api/companies/${A}/crm/secrets`).set('content-type', 'application/json').send('{"broken": ');
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'Unauthorized' });
    });

    it('a malformed companyId is 400 for an authenticated caller, 401 for an anonymous one', async () => {
      expect((await request(t.app).get('/api/companies/not-a-uuid/crm/secrets').set(as(admin))).status).toBe(400);
      expect((await request(t.app).get('/api/companies/not-a-uuid/crm/secrets')).status).toBe(401);
    });

    it('unknown fields and bad values are 400 and change nothing', async () => {
      const before = await request(t.app).get('/api/admin/board-tokens').set(as(admin));
      for (const body of [
        { userId: 'x', companyIds: [], extra: true },
        { userId: '', companyIds: [] },
        { userId: 'x', companyIds: ['nope'] },
        { userId: 'x', ttlDays: -1 },
        { userId: 'x', ttlDays: 1.5 },
        [],
        'text',
      ]) {
        const res = await request(t.app)
          .post('/api/admin/board-tokens')
          .set(as(admin))
          .send(body as object);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toBeTypeOf('string');
      }
      const after = await request(t.app).get('/api/admin/board-tokens').set(as(admin));
      expect(after.body.items).toHaveLength(before.body.items.length);
    });
  });
}

authSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => authSuite('postgres'));

describe('headers over the HTTP parser limit', () => {
  it('get a JSON 431 from the server itself', async () => {
    const t = await startTestApp('pglite', { config: { authMode: 'authenticated' } });
    const server = createHttpServer(t.app);
    try {
      const res = await request(server)
        .get('/healthz')
        .set('authorization', `Bearer ${'pcp_'.repeat(10_000)}`);
      expect(res.status).toBe(431);
      expect(res.body).toEqual({ error: 'Request headers too large' });
    } finally {
      server.close();
      await t.close();
    }
  });
});

describe('local_trusted mode', () => {
  it('acts as an instance-admin board user without any header, for loopback callers only', async () => {
    const t = await startTestApp('pglite', { config: { authMode: 'local_trusted' } });
    try {
      expect((await request(t.app).get('/api/admin/board-tokens')).status).toBe(200);
      expect((await request(t.app).get(`/api/companies/${randomUUID()}/crm/secrets`)).status).toBe(200);
      // DNS rebinding (a foreign Host) and cross-site requests (a foreign Origin) are refused.
      const rebinding = await request(t.app)
        .post('/api/admin/board-tokens')
        .set('host', 'attacker.example:3000')
        .send({ userId: 'evil', instanceAdmin: true });
      expect(rebinding.status).toBe(403);
      const crossSite = await request(t.app).post('/api/admin/post-issue-hooks/reload').set('origin', 'https://evil.example');
      expect(crossSite.status).toBe(403);
      expect(
        (await request(t.app).get('/api/admin/board-tokens').set('host', 'localhost:3000').set('origin', 'http://localhost:5173')).status,
      ).toBe(200);
      expect((await request(t.app).get('/api/admin/board-tokens')).body.items).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('token expiry', () => {
  it('a token past its expiry is 401, and ttlDays 0 never expires', async () => {
    let clock = Date.now();
    const t = await startTestApp('pglite', { config: { authMode: 'authenticated' }, now: () => new Date(clock) });
    try {
      const admin = await adminToken(t.rt);
      const short = await request(t.app)
        .post('/api/admin/board-tokens')
        .set('authorization', `Bearer ${admin}`)
        .send({ userId: 'temp', ttlDays: 1 });
      const forever = await request(t.app)
        .post('/api/admin/board-tokens')
        .set('authorization', `Bearer ${admin}`)
        .send({ userId: 'perm', ttlDays: 0 });
      expect(forever.body.expiresAt).toBeNull();
      clock += 86_400_000 + 1000;
      expect((await request(t.app).get('/api/admin/board-tokens').set('authorization', `Bearer ${short.body.token}`)).status).toBe(401);
      expect((await request(t.app).get('/api/admin/board-tokens').set('authorization', `Bearer ${forever.body.token}`)).status).toBe(403);
    } finally {
      await t.close();
    }
  });
});
