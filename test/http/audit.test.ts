import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

// Audit replay for instance admins (issue 16 part 4): any aggregate's events, and its state at an instant,
// folded by the decider the service decides with.
describe('audit: history and state as of an instant', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let c: Awaited<ReturnType<typeof emailCompany>>;
  let activityId: string;
  beforeAll(async () => {
    smtp = await smtpServer();
    t = await startTestApp('pglite');
    c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 5 });
    const sent = await request(t.app)
      .post(`${c.base}/send`)
      .send(email('one@example.org', {}, c.outboxId));
    expect(sent.body.status).toBe('sent');
    activityId = sent.body.id;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("an activity's history lists its events in order with times and actors", async () => {
    const r = await request(t.app).get(`/api/admin/history/activity/${activityId}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'activity', id: activityId });
    const types = r.body.events.map((e: { type: string }) => e.type);
    expect(types[0]).toBe('ActivityRequested');
    expect(types).toContain('ActivitySent');
    expect(r.body.events.map((e: { revision: number }) => e.revision)).toEqual(types.map((_: string, i: number) => i));
    expect(r.body.events[0].actor).toMatchObject({ type: 'board' });
    expect(Number.isNaN(Date.parse(r.body.events[0].recordedAt))).toBe(false);
  });

  it("an activity's state now is sent; before its first event, the initial state with revision null", async () => {
    const now = await request(t.app).get(`/api/admin/state/activity/${activityId}`);
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({ kind: 'activity', asOf: null, state: { status: 'sent' } });
    const events = (await request(t.app).get(`/api/admin/history/activity/${activityId}`)).body.events;
    expect(now.body.eventsFolded).toBe(events.length);
    expect(now.body.revision).toBe(events.length - 1);

    const first = Date.parse(events[0].recordedAt);
    const before = await request(t.app)
      .get(`/api/admin/state/activity/${activityId}`)
      .query({ asOf: new Date(first - 1).toISOString() });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ revision: null, recordedAt: null, eventsFolded: 0, state: { status: 'none' } });
  });

  it("a rule set's state as of an instant between two changes has the first rule only", async () => {
    const rule = (priority: number, tag: string) =>
      request(t.app)
        .post(`${c.base}/approval-rules`)
        .send({ predicate: { channel: 'email', tags: [tag] }, action: 'queue_for_manual', priority });
    expect((await rule(20, 'vip')).status).toBe(201);
    await new Promise((r) => setTimeout(r, 20));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 20));
    expect((await rule(30, 'press')).status).toBe(201);

    const then = await request(t.app).get(`/api/admin/state/rule-set/${c.companyId}`).query({ asOf: between.toISOString() });
    expect(then.status).toBe(200);
    const rulesThen = Object.values(then.body.state.rules as Record<string, { priority: number }>)
      .map((x) => x.priority)
      .sort();
    expect(rulesThen).toEqual([10, 20]);
    const now = await request(t.app).get(`/api/admin/state/rule-set/${c.companyId}`);
    const rulesNow = Object.values(now.body.state.rules as Record<string, { priority: number }>)
      .map((x) => x.priority)
      .sort();
    expect(rulesNow).toEqual([10, 20, 30]);
    expect(now.body.eventsFolded).toBe(then.body.eventsFolded + 1);
  });

  it("a quota bucket's history and state: the send's reservation, under the credential's day", async () => {
    const day = new Date().toISOString().slice(0, 10);
    const id = `${c.companyId}.${c.credentialId}.${day}`;
    const h = await request(t.app).get(`/api/admin/history/bucket/${id}`);
    expect(h.status).toBe(200);
    expect(h.body.events.map((e: { type: string }) => e.type)).toContain('QuotaReserved');
    expect(h.body.events.find((e: { type: string }) => e.type === 'QuotaReserved').data).toMatchObject({ activityId, cap: 5 });
    const s = await request(t.app).get(`/api/admin/state/bucket/${id}`);
    expect(s.body.state.reserved).toEqual([activityId]);
  });

  it("an outbox's state is its fields as created", async () => {
    const s = await request(t.app).get(`/api/admin/state/outbox/${c.outboxId}`);
    expect(s.status).toBe(200);
    expect(s.body.state).toMatchObject({ status: 'active', companyId: c.companyId, fields: { channel: 'email', dailyCap: 5 } });
  });

  it('refuses an unknown kind or a malformed id with 400, and an aggregate with no event is 404', async () => {
    const kind = await request(t.app).get(`/api/admin/history/contact/${activityId}`);
    expect(kind.status).toBe(400);
    expect(kind.body.error).toMatch(/unknown kind 'contact'/);
    const badId = await request(t.app).get('/api/admin/state/bucket/not-a-bucket');
    expect(badId.status).toBe(400);
    expect(badId.body.error).toMatch(/<companyId>\.<credentialId>\.<YYYY-MM-DD>/);
    const badAsOf = await request(t.app).get(`/api/admin/state/activity/${activityId}`).query({ asOf: 'yesterday' });
    expect(badAsOf.status).toBe(400);
    const none = await request(t.app).get(`/api/admin/history/sequence/${randomUUID()}`);
    expect(none.status).toBe(404);
    expect((await request(t.app).get(`/api/admin/state/enrollment/${randomUUID()}`)).status).toBe(404);
  });
});
