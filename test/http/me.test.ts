import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueAgentKey, issueBoardToken } from '../../src/commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { type TestApp, startTestApp } from '../support/app.js';

// GET /api/me (issue 17): the console's sign-in and company picker.
describe('GET /api/me', () => {
  let t: TestApp;
  const own = randomUUID();
  const withOutbox = randomUUID();
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestApp('pglite', { config: { authMode: 'authenticated' } });
    const now = t.rt.now();
    const admin = await issueBoardToken(
      t.rt.store,
      { userId: 'ada', instanceAdmin: true, companyIds: [own], ttlDays: 0 },
      LOCAL_OPERATOR,
      now,
    );
    const member = await issueBoardToken(
      t.rt.store,
      { userId: 'max', instanceAdmin: false, companyIds: [own], ttlDays: 0 },
      LOCAL_OPERATOR,
      now,
    );
    const agent = await issueAgentKey(t.rt.store, { agentId: 'bot', companyId: own }, LOCAL_OPERATOR, now);
    await t.rt.engine.waitFor(agent.position!);
    Object.assign(tokens, { admin: admin.token, member: member.token, agent: agent.token });
    const as = { authorization: `Bearer ${admin.token}` };
    const secret = await request(t.app)
      .post(`/api/companies/${withOutbox}/crm/secrets`)
      .set(as)
      .send({ name: 's', value: 'smtp://u:p@mail.example.com:587' });
    const outbox = await request(t.app)
      .post(`/api/companies/${withOutbox}/crm/outboxes`)
      .set(as)
      .send({ channel: 'email', secretRef: secret.body.ref, config: { fromAddress: 'a@example.com' } });
    expect(outbox.status).toBe(201);
  }, 60_000);
  afterAll(() => t?.close());

  const me = async (who: string) => (await request(t.app).get('/api/me').set('authorization', `Bearer ${tokens[who]}`)).body;

  it("a board user gets its token's companies; an instance admin also every company with an outbox; an agent its own", async () => {
    expect(await me('member')).toEqual({ kind: 'board', id: 'max', instanceAdmin: false, authMode: 'authenticated', companies: [own] });
    const admin = await me('admin');
    expect(admin).toMatchObject({ kind: 'board', id: 'ada', instanceAdmin: true });
    expect([...admin.companies].sort()).toEqual([own, withOutbox].sort());
    expect(await me('agent')).toEqual({ kind: 'agent', id: 'bot', instanceAdmin: false, authMode: 'authenticated', companies: [own] });
  });

  it('refuses a caller without a token', async () => {
    const r = await request(t.app).get('/api/me');
    expect(r.status).toBe(401);
    expect(r.body).toHaveProperty('error');
  });
});
