import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCommand } from '../../src/commands/handle-command.js';
import { type ContactKey, contactDecider, contactStream } from '../../src/domain/contact.js';
import type { OutboxChannel } from '../../src/domain/channels.js';
import { localDay } from '../../src/domain/time-window.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const TOKEN = 'EAAG-e2e-provider-secret';
const today = () => localDay(new Date(), 'UTC');

/** One loopback server playing every provider, by path. A WhatsApp send to +33600000099 is undeliverable. */
function providers() {
  return fakeHttpServer((req, res) => {
    if (req.url.endsWith('/1234567890/messages')) {
      if ((JSON.parse(req.body) as { to: string }).to === '33600000099') {
        return json(res, 400, { error: { message: 'Message undeliverable', type: 'OAuthException', code: 131026, fbtrace_id: 'F1' } });
      }
      return json(res, 200, { messaging_product: 'whatsapp', messages: [{ id: 'wamid.E2E' }] });
    }
    if (req.url.endsWith('/17841400000000001/messages')) return json(res, 200, { recipient_id: '7012345678901234', message_id: 'ig.E2E' });
    if (req.url === '/v2/bookings') return json(res, 201, { status: 'success', data: { id: 1, uid: 'bk_E2E' } });
    if (req.url.startsWith('/api/v1/users/julien-crepieux'))
      return json(res, 200, { provider_id: 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E' });
    if (req.url === '/api/v1/users/invite') return json(res, 201, { object: 'UserInvitationSent', invitation_id: 'inv_E2E' });
    json(res, 404, {});
  });
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`sends over HTTP through the provider adapters on ${backend}`, () => {
    let t: TestApp;
    let provider: Awaited<ReturnType<typeof providers>>;
    beforeAll(async () => {
      provider = await providers();
      t = await startTestApp(backend);
    });
    afterAll(async () => {
      await t?.close();
      await provider?.close();
    });

    /** A company with a secret, one outbox of the channel pointed at the fake provider, an allowlist and an auto_approve rule. */
    async function company(channel: string, config: Record<string, unknown>, allow: string[], dailyCap = 10) {
      const base = `/api/companies/${randomUUID()}/crm`;
      const secret = await request(t.app)
        .post(`${base}/secrets`)
        .send({ name: `${channel}-key`, value: TOKEN });
      expect(secret.status).toBe(201);
      const outbox = await request(t.app)
        .post(`${base}/outboxes`)
        .send({ channel, secretRef: secret.body.ref, config: { ...config, baseUrl: provider.url }, dailyCap, timezone: 'UTC' });
      expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
      for (const pattern of allow) expect((await request(t.app).post(`${base}/allowlist`).send({ pattern })).status).toBe(201);
      expect(
        (await request(t.app).post(`${base}/approval-rules`).send({ predicate: { channel }, action: 'auto_approve', priority: 10 })).status,
      ).toBe(201);
      return { base, companyId: base.split('/')[3]!, outboxId: outbox.body.id as string, credentialId: secret.body.id as string };
    }

    /** The recipient wrote to the business (as the webhook records it): free-form WhatsApp and Instagram may go. */
    async function recipientWrote(key: ContactKey) {
      await handleCommand(t.rt.store, contactStream(key), contactDecider, {
        type: 'RecordInbound',
        key,
        at: new Date().toISOString(),
        text: 'Hi',
        providerEventId: randomUUID(),
        activityId: null,
      });
    }

    const cases = [
      {
        channel: 'whatsapp',
        config: { phoneNumberId: '1234567890' },
        to: '+33612345678',
        payload: { text: 'Bonjour' },
        id: 'wamid.E2E',
        path: '/v26.0/1234567890/messages',
      },
      {
        channel: 'instagram',
        config: { igUserId: '17841400000000001' },
        to: '7012345678901234',
        payload: { text: 'Hello' },
        id: 'ig.E2E',
        path: '/v26.0/17841400000000001/messages',
      },
      {
        channel: 'cal-com',
        config: { eventTypeId: 42 },
        to: 'ana@example.org',
        payload: { start: '2030-03-10T11:00:00+02:00', attendee: { name: 'Ana', email: 'ana@example.org', timeZone: 'Europe/Paris' } },
        id: 'bk_E2E',
        path: '/v2/bookings',
      },
      {
        channel: 'linkedin',
        config: { accountId: 'acc_1' },
        to: 'https://www.linkedin.com/in/julien-crepieux/',
        payload: { kind: 'invitation', note: 'Hello' },
        id: 'inv_E2E',
        path: '/api/v1/users/invite',
      },
    ];
    for (const c of cases) {
      it(`${c.channel}: an allowed, auto-approved send is sent and records the provider's id`, async () => {
        const co = await company(c.channel, c.config, [c.to]);
        const account =
          (c.config as { phoneNumberId?: string; igUserId?: string }).phoneNumberId ?? (c.config as { igUserId?: string }).igUserId;
        if (account) await recipientWrote({ companyId: co.companyId, channel: c.channel as OutboxChannel, account, contact: c.to });
        const before = provider.received.length;
        const res = await request(t.app)
          .post(`${co.base}/send`)
          .send({ channel: c.channel, outboxId: co.outboxId, to: c.to, payload: c.payload });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ id: expect.any(String), status: 'sent' });
        const sent = provider.received.slice(before).filter((r) => r.method === 'POST');
        expect(sent.map((r) => r.url)).toEqual([c.path]);
        const auth = c.channel === 'linkedin' ? sent[0]!.headers['x-api-key'] : sent[0]!.headers.authorization;
        expect(auth).toBe(c.channel === 'linkedin' ? TOKEN : `Bearer ${TOKEN}`);
        const activity = await request(t.app).get(`${co.base}/activities/${res.body.id}`);
        expect(activity.body).toMatchObject({ status: 'sent', channel: c.channel, providerMessageId: c.id, error: null });
        expect((await request(t.app).get(`${co.base}/credential-buckets`).query({ day: today() })).body.items).toEqual([
          { credential: co.credentialId, day: today(), cap: 10, used: 1 },
        ]);
      });
    }

    it('a permanent provider error fails the send with the Meta code and refunds the unit', async () => {
      const co = await company('whatsapp', { phoneNumberId: '1234567890' }, ['+33600000099']);
      const res = await request(t.app)
        .post(`${co.base}/send`)
        .send({
          channel: 'whatsapp',
          outboxId: co.outboxId,
          to: '+33600000099',
          payload: { template: { name: 'hello_world', language: 'en_US' } },
        });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'failed', error: { code: '131026' } });
      expect(JSON.stringify(res.body)).not.toContain(TOKEN);
      const activity = await request(t.app).get(`${co.base}/activities/${res.body.id}`);
      expect(activity.body).toMatchObject({ status: 'failed', error: { code: '131026' } });
      expect((await request(t.app).get(`${co.base}/credential-buckets`).query({ day: today() })).body.items).toEqual([
        { credential: co.credentialId, day: today(), cap: 10, used: 0 },
      ]);
    });

    it('malformed payloads (a template without a name, a booking without a start or for someone else) and a LinkedIn `to` that is no profile are 400: no activity, no quota, no provider request', async () => {
      const wa = await company('whatsapp', { phoneNumberId: '1234567890' }, ['+33612345678']);
      const cal = await company('cal-com', { eventTypeId: 42 }, ['ana@example.org']);
      const li = await company('linkedin', { accountId: 'acc_1' }, ['*']);
      const before = provider.received.length;
      const noName = await request(t.app)
        .post(`${wa.base}/send`)
        .send({ channel: 'whatsapp', outboxId: wa.outboxId, to: '+33612345678', payload: { template: { language: 'fr' } } });
      expect(noName.status).toBe(400);
      expect(JSON.stringify(noName.body.details)).toContain('name');
      const noStart = await request(t.app)
        .post(`${cal.base}/send`)
        .send({
          channel: 'cal-com',
          outboxId: cal.outboxId,
          to: 'ana@example.org',
          payload: { attendee: { name: 'Ana', email: 'ana@example.org', timeZone: 'Europe/Paris' } },
        });
      expect(noStart.status).toBe(400);
      expect(JSON.stringify(noStart.body.details)).toContain('start');
      const someoneElse = await request(t.app)
        .post(`${cal.base}/send`)
        .send({
          channel: 'cal-com',
          outboxId: cal.outboxId,
          to: 'ana@example.org',
          payload: { start: '2030-03-10T11:00:00+02:00', attendee: { name: 'Eve', email: 'eve@example.org', timeZone: 'Europe/Paris' } },
        });
      expect(someoneElse.status).toBe(400);
      expect(JSON.stringify(someoneElse.body.details)).toContain('attendee');
      const notProfile = await request(t.app)
        .post(`${li.base}/send`)
        .send({
          channel: 'linkedin',
          outboxId: li.outboxId,
          to: 'https://example.com/in/ana',
          payload: { kind: 'invitation', note: 'Hello' },
        });
      expect(notProfile.status).toBe(400);
      expect(provider.received.length).toBe(before);
      for (const co of [wa, cal, li]) {
        expect((await request(t.app).get(`${co.base}/activities`).query({ outboxId: co.outboxId })).body.items).toEqual([]);
        expect((await request(t.app).get(`${co.base}/credential-buckets`).query({ day: today() })).body.items).toEqual([]);
      }
    });

    it('a LinkedIn outbox needs its Unipile base URL', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'unipile', value: TOKEN });
      const res = await request(t.app)
        .post(`${base}/outboxes`)
        .send({ channel: 'linkedin', secretRef: secret.body.ref, config: { accountId: 'acc_1' } });
      expect(res.status).toBe(400);
    });

    it('a provider base URL is https, or http only to this machine: credentials never go out in clear', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'wa', value: TOKEN });
      const create = (baseUrl: string) =>
        request(t.app)
          .post(`${base}/outboxes`)
          .send({ channel: 'whatsapp', secretRef: secret.body.ref, config: { phoneNumberId: '1234567890', baseUrl } });
      for (const bad of ['http://graph.facebook.com', 'http://10.0.0.5:8080', 'ftp://127.0.0.1'])
        expect((await create(bad)).status, bad).toBe(400);
      for (const good of ['https://graph.facebook.com', 'http://127.0.0.1:9', 'http://localhost:9'])
        expect((await create(good)).status, good).toBe(201);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
