import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Resolve, egressPolicy, parseEgressAllow } from '../../src/channels/egress.js';
import { whatsAppAdapter } from '../../src/channels/whatsapp.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { handleCommand } from '../../src/commands/handle-command.js';
import { createOutbox } from '../../src/commands/outboxes.js';
import { contactDecider, contactStream } from '../../src/domain/contact.js';
import { localDay } from '../../src/domain/time-window.js';
import type { ChannelAdapters } from '../../src/channels/port.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { fakeHttpServer, json } from '../support/fake-http.js';
import { smtpServer } from '../support/smtp.js';

/**
 * The egress guard in `authenticated` mode, end to end: outbox writes, sends over HTTP and over SMTP. Loopback
 * listeners play the operator's internal services; the guard must keep every request away from them.
 */

const TOKEN = 'EAAG-egress-provider-secret';
const WA_TO = '+33612345678';
const today = () => localDay(new Date(), 'UTC');

/** A DNS answer a company could arrange: a public-looking name that points at this machine. */
const resolve: Resolve = async (host) => {
  if (host === 'graph.provider-example.com') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

function providers() {
  return fakeHttpServer((req, res) => {
    if (req.url.endsWith('/messages')) return json(res, 200, { messaging_product: 'whatsapp', messages: [{ id: 'wamid.EGRESS' }] });
    json(res, 404, {});
  });
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`egress in authenticated mode on ${backend}`, () => {
    let provider: Awaited<ReturnType<typeof providers>>;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    const apps: TestApp[] = [];
    beforeAll(async () => {
      provider = await providers();
      smtp = await smtpServer();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.close()));
      await provider?.close();
      await smtp?.close();
    });

    /** One instance at a time: on PostgreSQL, runtimes open side by side hear each other's append notifications. */
    async function fresh(config: Parameters<typeof startTestApp>[1] = {}) {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      const t = await startTestApp(backend, config);
      apps.push(t);
      return t;
    }

    async function start(allow = '', adapters?: Partial<ChannelAdapters>) {
      const t = await fresh({ config: { authMode: 'authenticated', egressAllow: parseEgressAllow(allow) }, adapters });
      const auth = { authorization: `Bearer ${await adminToken(t.rt)}` };
      const call = (method: 'get' | 'post' | 'patch', path: string, body?: object) => {
        const r = request(t.app)[method](path).set(auth);
        return body ? r.send(body) : r;
      };
      return { t, call };
    }
    type Api = Awaited<ReturnType<typeof start>>;

    /** A company with a secret, allowlisted recipients and an auto_approve rule for the channel. */
    async function company(api: Api, channel: 'whatsapp' | 'email', secretValue: string) {
      const companyId = randomUUID();
      const base = `/api/companies/${companyId}/crm`;
      const secret = await api.call('post', `${base}/secrets`, { name: `${channel}-key`, value: secretValue });
      expect(secret.status).toBe(201);
      for (const pattern of channel === 'email' ? ['*@example.org'] : [WA_TO])
        expect((await api.call('post', `${base}/allowlist`, { pattern })).status).toBe(201);
      expect(
        (await api.call('post', `${base}/approval-rules`, { predicate: { channel }, action: 'auto_approve', priority: 10 })).status,
      ).toBe(201);
      return { companyId, base, secretRef: secret.body.ref as string, credentialId: secret.body.id as string };
    }

    /** A WhatsApp outbox written as one written before the guard existed (the route would refuse its baseUrl now). */
    async function legacyWhatsAppOutbox(api: Api, co: Awaited<ReturnType<typeof company>>, baseUrl: string) {
      const { id, position } = await createOutbox(
        api.t.rt.store,
        api.t.rt.masterKey,
        {
          companyId: co.companyId,
          fields: {
            channel: 'whatsapp',
            niche: null,
            secretRef: co.secretRef,
            config: { phoneNumberId: '1234567890', baseUrl },
            dailyCap: 10,
            timezone: 'UTC',
          },
        },
        LOCAL_OPERATOR,
        api.t.rt.now(),
      );
      await api.t.rt.engine.waitFor(position!);
      return id;
    }

    async function sendWhatsApp(api: Api, co: Awaited<ReturnType<typeof company>>, outboxId: string) {
      // The recipient wrote first: a free-form WhatsApp message may go.
      const key = { companyId: co.companyId, channel: 'whatsapp' as const, account: '1234567890', contact: WA_TO };
      await handleCommand(api.t.rt.store, contactStream(key), contactDecider, {
        type: 'RecordInbound',
        key,
        at: new Date().toISOString(),
        text: 'Hi',
        providerEventId: randomUUID(),
        activityId: null,
      });
      return api.call('post', `${co.base}/send`, { channel: 'whatsapp', outboxId, to: WA_TO, payload: { text: 'Bonjour' } });
    }

    async function emailOutbox(api: Api, co: Awaited<ReturnType<typeof company>>) {
      const outbox = await api.call('post', `${co.base}/outboxes`, {
        channel: 'email',
        secretRef: co.secretRef,
        config: { fromAddress: 'ops@example.com' },
        dailyCap: 10,
      });
      expect(outbox.status).toBe(201);
      return outbox.body.id as string;
    }

    const sendEmail = (api: Api, co: Awaited<ReturnType<typeof company>>, outboxId: string) =>
      api.call('post', `${co.base}/send`, { channel: 'email', outboxId, to: 'ana@example.org', payload: { subject: 'Hi', text: 'Hello' } });

    const used = async (api: Api, co: Awaited<ReturnType<typeof company>>) =>
      ((await api.call('get', `${co.base}/credential-buckets`).query({ day: today() })).body.items as { used: number }[]).map(
        (b) => b.used,
      );

    describe('without CRM_EGRESS_ALLOW', () => {
      let api: Api;
      beforeAll(async () => {
        api = await start();
      });

      it('an outbox whose baseUrl is loopback, private or link-local is a 400 naming CRM_EGRESS_ALLOW, for every HTTP channel', async () => {
        const co = await company(api, 'whatsapp', TOKEN);
        const configs = {
          whatsapp: { phoneNumberId: '1234567890' },
          instagram: { igUserId: '17841400000000001' },
          'cal-com': { eventTypeId: 42 },
          linkedin: { accountId: 'acc_1' },
        };
        for (const [channel, config] of Object.entries(configs)) {
          for (const baseUrl of [
            provider.url,
            'http://localhost:9901',
            'https://localhost',
            'https://10.0.0.1',
            'https://169.254.169.254/latest',
            'https://[::1]',
            'https://[fd00::1]',
            'https://100.64.0.1',
            'https://0.0.0.0',
          ]) {
            const res = await api.call('post', `${co.base}/outboxes`, { channel, secretRef: co.secretRef, config: { ...config, baseUrl } });
            expect({ channel, baseUrl, status: res.status }).toEqual({ channel, baseUrl, status: 400 });
            expect(res.body.details).toEqual([
              { code: 'egress_refused', path: ['config', 'baseUrl'], message: expect.stringContaining('CRM_EGRESS_ALLOW') },
            ]);
          }
        }
        expect((await api.call('get', `${co.base}/outboxes`)).body.items).toEqual([]);
      });

      it('a baseUrl has no query, fragment or credentials, and plain http goes nowhere unallowed', async () => {
        const co = await company(api, 'whatsapp', TOKEN);
        const create = (baseUrl: string) =>
          api.call('post', `${co.base}/outboxes`, {
            channel: 'whatsapp',
            secretRef: co.secretRef,
            config: { phoneNumberId: '1234567890', baseUrl },
          });
        for (const bad of [
          'https://graph.facebook.com/internal/admin?x=',
          'https://graph.facebook.com/?',
          'https://graph.facebook.com/#',
          'https://graph.facebook.com/#frag',
          'https://user:pass@graph.facebook.com',
          'https://user@graph.facebook.com',
        ]) {
          const res = await create(bad);
          expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
          expect(JSON.stringify(res.body.details)).toContain('no query, fragment or credentials');
        }
        const clear = await create('http://graph.facebook.com');
        expect(clear.status).toBe(400);
        expect(clear.body.details).toEqual([
          { code: 'insecure_url', path: ['config', 'baseUrl'], message: expect.stringContaining('https') },
        ]);
        // A name is checked when it is dialled; a path prefix is fine.
        for (const good of ['https://graph.facebook.com', 'https://metadata.google.internal/', 'https://relay.example.com/prefix/']) {
          expect((await create(good)).status, good).toBe(201);
        }
      });

      it('an outbox already pointing at 127.0.0.1: the send fails egress_refused, the provider hears nothing, the unit is refunded', async () => {
        const co = await company(api, 'whatsapp', TOKEN);
        const outboxId = await legacyWhatsAppOutbox(api, co, `${provider.url}/internal/admin`);
        const before = provider.received.length;
        const res = await sendWhatsApp(api, co, outboxId);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ status: 'failed', error: { code: 'egress_refused' } });
        const activity = await api.call('get', `${co.base}/activities/${res.body.id}`);
        expect(activity.body).toMatchObject({
          status: 'failed',
          error: { code: 'egress_refused', message: expect.stringContaining('CRM_EGRESS_ALLOW') },
        });
        expect(JSON.stringify(activity.body)).not.toContain(TOKEN);
        expect(provider.received.length).toBe(before);
        expect(await used(api, co)).toEqual([0]);
      });

      it('an SMTP secret pointing at 127.0.0.1: the send fails egress_refused, the server gets no mail, the unit is refunded', async () => {
        const co = await company(api, 'email', smtp.url);
        const outboxId = await emailOutbox(api, co);
        const before = smtp.messages.length;
        const res = await sendEmail(api, co, outboxId);
        expect(res.body).toMatchObject({ status: 'failed', error: { code: 'egress_refused' } });
        expect(smtp.messages.length).toBe(before);
        expect(await used(api, co)).toEqual([0]);
      });

      it('an SMTP secret naming localhost is refused the same way', async () => {
        const co = await company(api, 'email', smtp.url.replace('127.0.0.1', 'localhost'));
        const res = await sendEmail(api, co, await emailOutbox(api, co));
        expect(res.body).toMatchObject({ status: 'failed', error: { code: 'egress_refused' } });
      });
    });

    it('a public-looking name that resolves to loopback passes the outbox write, then its send is refused on the address it resolves to', async () => {
      const egress = egressPolicy({ restricted: true, resolve });
      const api = await start('', { whatsapp: whatsAppAdapter({ egress }) });
      try {
        const co = await company(api, 'whatsapp', TOKEN);
        const port = new URL(provider.url).port;
        const outbox = await api.call('post', `${co.base}/outboxes`, {
          channel: 'whatsapp',
          secretRef: co.secretRef,
          config: { phoneNumberId: '1234567890', baseUrl: `https://graph.provider-example.com:${port}` },
        });
        expect(outbox.status).toBe(201);
        const before = provider.received.length;
        const res = await sendWhatsApp(api, co, outbox.body.id);
        expect(res.body).toMatchObject({ status: 'failed', error: { code: 'egress_refused' } });
        expect(res.body.error.message).not.toContain('127.0.0.1');
        expect(provider.received.length).toBe(before);
        expect(await used(api, co)).toEqual([0]);
      } finally {
        await egress.close();
      }
    });

    it('CRM_EGRESS_ALLOW=127.0.0.1/32 lets that address through, by HTTP and SMTP, while 127.0.0.2 stays refused', async () => {
      const api = await start('127.0.0.1/32');
      const wa = await company(api, 'whatsapp', TOKEN);
      const outbox = await api.call('post', `${wa.base}/outboxes`, {
        channel: 'whatsapp',
        secretRef: wa.secretRef,
        config: { phoneNumberId: '1234567890', baseUrl: provider.url },
      });
      expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
      const before = provider.received.length;
      const sent = await sendWhatsApp(api, wa, outbox.body.id);
      expect(sent.body).toEqual({ id: expect.any(String), status: 'sent' });
      expect(provider.received.length).toBe(before + 1);
      expect(provider.received.at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      const neighbour = await api.call('post', `${wa.base}/outboxes`, {
        channel: 'whatsapp',
        secretRef: wa.secretRef,
        config: { phoneNumberId: '1234567890', baseUrl: 'https://127.0.0.2' },
      });
      expect(neighbour.status).toBe(400);

      const mail = await company(api, 'email', smtp.url);
      const mails = smtp.messages.length;
      const res = await sendEmail(api, mail, await emailOutbox(api, mail));
      expect(res.body).toEqual({ id: expect.any(String), status: 'sent' });
      expect(smtp.messages.length).toBe(mails + 1);
    });

    it('CRM_EGRESS_ALLOW=127.0.0.1:<smtp port> lets exactly that pair through: the SMTP relay is reached, the HTTP listener on another port is not', async () => {
      const api = await start(`127.0.0.1:${smtp.port}`);
      const mail = await company(api, 'email', smtp.url);
      const mails = smtp.messages.length;
      const res = await sendEmail(api, mail, await emailOutbox(api, mail));
      expect(res.body).toEqual({ id: expect.any(String), status: 'sent' });
      expect(smtp.messages.length).toBe(mails + 1);

      const wa = await company(api, 'whatsapp', TOKEN);
      const refused = await api.call('post', `${wa.base}/outboxes`, {
        channel: 'whatsapp',
        secretRef: wa.secretRef,
        config: { phoneNumberId: '1234567890', baseUrl: provider.url },
      });
      expect(refused.status).toBe(400);
      const outboxId = await legacyWhatsAppOutbox(api, wa, provider.url);
      const before = provider.received.length;
      const sent = await sendWhatsApp(api, wa, outboxId);
      expect(sent.body).toMatchObject({ status: 'failed', error: { code: 'egress_refused' } });
      expect(provider.received.length).toBe(before);
    });

    it('local_trusted keeps reaching loopback: a stand-in provider on 127.0.0.1 gets the send', async () => {
      const t = await fresh();
      const base = `/api/companies/${randomUUID()}/crm`;
      const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'smtp', value: smtp.url });
      const outbox = await request(t.app)
        .post(`${base}/outboxes`)
        .send({ channel: 'email', secretRef: secret.body.ref, config: { fromAddress: 'ops@example.com' } });
      expect((await request(t.app).post(`${base}/allowlist`).send({ pattern: '*@example.org' })).status).toBe(201);
      expect(
        (
          await request(t.app)
            .post(`${base}/approval-rules`)
            .send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 })
        ).status,
      ).toBe(201);
      const mails = smtp.messages.length;
      const res = await request(t.app)
        .post(`${base}/send`)
        .send({ channel: 'email', outboxId: outbox.body.id, to: 'ana@example.org', payload: { subject: 'Hi', text: 'Hello' } });
      expect(res.body).toEqual({ id: expect.any(String), status: 'sent' });
      expect(smtp.messages.length).toBe(mails + 1);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
