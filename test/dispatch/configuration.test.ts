import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxStream } from '../../src/domain/outbox.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';

function suite(backend: 'pglite' | 'postgres') {
  describe(`outboxes, allowlist and approval rules on ${backend}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(() => t?.close());

    it('outboxes: a credential of this company only; channel configs checked; soft delete keeps history', async () => {
      const A = randomUUID();
      const B = randomUUID();
      const secretA = (await request(t.app).post(`/api/companies/${A}/crm/secrets`).send({ name: 's', value: 'smtp://u:p@127.0.0.1:25' }))
        .body.ref;
      const secretB = (await request(t.app).post(`/api/companies/${B}/crm/secrets`).send({ name: 's', value: 'x' })).body.ref;
      const base = `/api/companies/${A}/crm/outboxes`;
      const ok = { channel: 'email', secretRef: secretA, config: { fromAddress: 'a@example.com' } };
      const created = await request(t.app).post(base).send(ok);
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ channel: 'email', dailyCap: 200, timezone: 'UTC', niche: null, secretRef: secretA });
      expect(JSON.stringify(created.body)).not.toContain('smtp://');

      expect(
        (
          await request(t.app)
            .post(base)
            .send({ ...ok, secretRef: secretB })
        ).status,
      ).toBe(422);
      expect(
        (
          await request(t.app)
            .post(base)
            .send({ ...ok, secretRef: `secret://${randomUUID()}:latest` })
        ).status,
      ).toBe(422);
      for (const bad of [
        { ...ok, secretRef: 'nope' },
        { ...ok, config: { fromAddress: 'not-an-email' } },
        { ...ok, config: { fromAddress: 'a@example.com', extra: 1 } },
        { ...ok, channel: 'whatsapp' },
        { ...ok, timezone: 'Mars/Base' },
        { ...ok, dailyCap: -1 },
        { ...ok, niche: 'Bad Niche' },
        { ...ok, unknown: true },
      ]) {
        expect((await request(t.app).post(base).send(bad)).status, JSON.stringify(bad)).toBe(400);
      }
      const patched = await request(t.app).patch(`${base}/${created.body.id}`).send({ dailyCap: 5, timezone: 'Europe/Paris' });
      expect(patched.body).toMatchObject({ dailyCap: 5, timezone: 'Europe/Paris' });
      expect(
        (
          await request(t.app)
            .patch(`${base}/${created.body.id}`)
            .send({ config: { fromAddress: 'nope' } })
        ).status,
      ).toBe(400);

      expect((await request(t.app).delete(`${base}/${created.body.id}`)).status).toBe(204);
      expect((await request(t.app).get(base)).body.items).toEqual([]);
      expect((await request(t.app).get(`${base}/${created.body.id}`)).status).toBe(404);
      expect(
        (
          await request(t.app)
            .post(`/api/companies/${A}/crm/send`)
            .send(email('a@example.org', {}, created.body.id))
        ).status,
      ).toBe(404);
      expect((await t.rt.store.readStream(outboxStream(created.body.id))).map((e) => e.type)).toEqual([
        'OutboxCreated',
        'OutboxUpdated',
        'OutboxDeleted',
      ]);
      // Outboxes on one credential count the quota day in one time zone.
      const utc = await request(t.app).post(base).send(ok);
      expect(utc.status).toBe(201);
      const tokyo = await request(t.app)
        .post(base)
        .send({ ...ok, timezone: 'Asia/Tokyo' });
      expect(tokyo.status).toBe(422);
      expect(tokyo.body.error).toMatch(/UTC/);
      expect((await request(t.app).patch(`${base}/${utc.body.id}`).send({ timezone: 'Asia/Tokyo' })).status).toBe(200);
      expect(
        (
          await request(t.app)
            .post(base)
            .send({ ...ok, timezone: 'Asia/Tokyo' })
        ).status,
      ).toBe(201);
      // Another company's outbox does not exist from here.
      const other = await request(t.app)
        .post(`/api/companies/${B}/crm/outboxes`)
        .send({ ...ok, secretRef: secretB });
      expect(other.status).toBe(201);
      expect((await request(t.app).delete(`${base}/${other.body.id}`)).status).toBe(404);
    });

    it('the allowlist: exact addresses case-insensitively, domains, numbers, handles, URLs, and * only when written', async () => {
      const c = await emailCompany(t, { smtpUrl: 'smtp://127.0.0.1:9', allow: ['Boss@Example.org', '*@partner.io'] });
      const dry = async (to: string) =>
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email(to, { channel: 'dry-run' }, c.outboxId))
        ).body.status;
      expect(await dry('boss@example.org')).toBe('sent_dryrun');
      expect(await dry('anyone@partner.io')).toBe('sent_dryrun');
      expect(await dry('anyone@evil-partner.io')).toBe('blocked_by_allowlist');
      expect(await dry('other@example.org')).toBe('blocked_by_allowlist');
      const list = await request(t.app).get(`${c.base}/allowlist`);
      expect(list.body.items.map((e: { pattern: string }) => e.pattern).sort()).toEqual(['*@partner.io', 'boss@example.org']);
      for (const pattern of ['+33612345678', '@ana.martin', 'https://www.linkedin.com/in/ana/']) {
        expect((await request(t.app).post(`${c.base}/allowlist`).send({ pattern })).status).toBe(201);
      }
      for (const pattern of ['', 'not a pattern!', '**', '*@*']) {
        expect((await request(t.app).post(`${c.base}/allowlist`).send({ pattern })).status, pattern).toBe(400);
      }
      expect((await request(t.app).post(`${c.base}/allowlist`).send({ pattern: 'BOSS@example.org' })).status).toBe(409);
      const star = await request(t.app).post(`${c.base}/allowlist`).send({ pattern: '*' });
      expect(await dry('stranger@nowhere.net')).toBe('sent_dryrun');
      expect((await request(t.app).delete(`${c.base}/allowlist/${star.body.id}`)).status).toBe(204);
      expect(await dry('stranger@nowhere.net')).toBe('blocked_by_allowlist');
      expect((await request(t.app).delete(`${c.base}/allowlist/${star.body.id}`)).status).toBe(404);
    });

    it('approval rules: ascending priority, ties oldest first, first match wins; preview persists nothing', async () => {
      const c = await emailCompany(t, { smtpUrl: 'smtp://127.0.0.1:9', autoApprove: false });
      const add = async (body: Record<string, unknown>) => (await request(t.app).post(`${c.base}/approval-rules`).send(body)).body;
      const late = await add({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 50 });
      const first = await add({ predicate: { tags: ['vip'] }, action: 'queue_for_manual', priority: 10 });
      const tie = await add({ predicate: { tags: ['vip'] }, action: 'auto_approve', priority: 10 });
      const list = await request(t.app).get(`${c.base}/approval-rules`);
      expect(list.body.items.map((r: { id: string }) => r.id)).toEqual([first.id, tie.id, late.id]);

      const preview = await request(t.app)
        .post(`${c.base}/approval-rules/${first.id}/preview`)
        .send({ channel: 'email', niche: 'renovation', tags: ['vip'] });
      expect(preview.body).toEqual({ matches: true, action: 'queue_for_manual' });
      expect(
        (await request(t.app).post(`${c.base}/approval-rules/${first.id}/preview`).send({ channel: 'email', tags: [] })).body.matches,
      ).toBe(false);
      const windowed = await add({
        predicate: { timeOfDay: { start: '22:00', end: '06:00', tz: 'Europe/Paris' } },
        action: 'queue_for_manual',
        priority: 99,
      });
      const at = (iso: string) =>
        request(t.app).post(`${c.base}/approval-rules/${windowed.id}/preview`).send({ channel: 'email', at: iso });
      expect((await at('2026-07-01T21:30:00Z')).body.matches).toBe(true); // 23:30 in Paris
      expect((await at('2026-07-01T10:00:00Z')).body.matches).toBe(false);
      expect((await request(t.app).get(`${c.base}/approval-rules`)).body.items).toHaveLength(4);

      const vip = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('a@example.org', { tags: ['vip'], channel: 'dry-run' }, c.outboxId));
      expect(vip.body.status).toBe('sent_dryrun');
      await request(t.app).patch(`${c.base}/approval-rules/${first.id}`).send({ priority: 60 });
      const order = (await request(t.app).get(`${c.base}/approval-rules`)).body.items.map((r: { id: string }) => r.id);
      expect(order).toEqual([tie.id, late.id, first.id, windowed.id]);
      for (const bad of [
        { action: 'maybe' },
        { predicate: { timeOfDay: { start: '25:00', end: '06:00', tz: 'UTC' } }, action: 'auto_approve' },
        { predicate: { timeOfDay: { start: '09:00', end: '09:00', tz: 'UTC' } }, action: 'auto_approve' },
        { predicate: { timeOfDay: { start: '09:00', end: '17:00', tz: 'Nowhere/Land' } }, action: 'auto_approve' },
        { predicate: { colour: 'red' }, action: 'auto_approve' },
      ]) {
        expect((await request(t.app).post(`${c.base}/approval-rules`).send(bad)).status, JSON.stringify(bad)).toBe(400);
      }
      expect((await request(t.app).delete(`${c.base}/approval-rules/${randomUUID()}`)).status).toBe(404);
      expect((await request(t.app).post(`${c.base}/approval-rules/${randomUUID()}/preview`).send({ channel: 'email' })).status).toBe(404);
    });

    it('activities list with filters and a cursor', async () => {
      const c = await emailCompany(t, { smtpUrl: 'smtp://127.0.0.1:9', allow: ['*@example.org'] });
      for (let i = 0; i < 5; i++)
        await request(t.app)
          .post(`${c.base}/send`)
          .send(email(`l${i}@example.org`, { channel: 'dry-run' }, c.outboxId));
      await request(t.app)
        .post(`${c.base}/send`)
        .send(email('x@blocked.net', { channel: 'dry-run' }, c.outboxId));
      const page1 = await request(t.app).get(`${c.base}/activities`).query({ limit: 4 });
      expect(page1.body.items).toHaveLength(4);
      const page2 = await request(t.app).get(`${c.base}/activities`).query({ limit: 4, cursor: page1.body.nextCursor });
      expect(page2.body.items).toHaveLength(2);
      expect(page2.body.nextCursor).toBeNull();
      expect(new Set([...page1.body.items, ...page2.body.items].map((a: { id: string }) => a.id)).size).toBe(6);
      expect((await request(t.app).get(`${c.base}/activities`).query({ status: 'blocked_by_allowlist' })).body.items).toHaveLength(1);
      const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const farDates = ['0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', 8.64e15].map((d) => ({
        cursor: cursorOf([d, randomUUID()]),
      }));
      for (const q of [
        { cursor: 'garbage' },
        ...farDates,
        { limit: 0 },
        { status: 'nope' },
        { since: 'yesterday' },
        { since: '0000-01-01T00:00:00Z' },
        { until: '0000-12-31T23:59:59Z' },
      ]) {
        expect((await request(t.app).get(`${c.base}/activities`).query(q)).status, JSON.stringify(q)).toBe(400);
      }
      for (const day of ['2026-13-45', '2026-02-30', 'today']) {
        expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day })).status, day).toBe(400);
      }
      expect((await request(t.app).get(`${c.base}/activities/${randomUUID()}`)).status).toBe(404);
      expect((await request(t.app).get(`${c.base}/activities/${randomUUID()}/history`)).status).toBe(404);
      const other = await emailCompany(t, { smtpUrl: 'smtp://127.0.0.1:9' });
      const id = page1.body.items[0].id;
      expect((await request(t.app).get(`${other.base}/activities/${id}`)).status).toBe(404);
      expect((await request(t.app).get(`${other.base}/activities/${id}/history`)).status).toBe(404);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
