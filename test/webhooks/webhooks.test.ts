import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactStream } from '../../src/domain/contact.js';
import { localDay } from '../../src/domain/time-window.js';
import { StreamNotFoundError } from '../../src/eventstore/port.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { fakeHttpServer, json } from '../support/fake-http.js';
import { emailSignature, graphAdapter, igMessage, metaCompany, postRaw, sign, waMessage, waStatus, webhookCompany } from './support.js';

const HOUR = 3_600_000;
const APP_SECRET = 'meta-app-secret-for-tests';

describe('inbound webhooks and the messaging window', () => {
  let t: TestApp;
  let clock = Date.parse('2026-06-01T09:00:00Z');
  let counter = 0;
  let provider: Awaited<ReturnType<typeof fakeHttpServer>>;

  beforeAll(async () => {
    provider = await fakeHttpServer((_req, res) =>
      json(res, 200, { messaging_product: 'whatsapp', messages: [{ id: `wamid.${++counter}` }], message_id: `mid.${counter}` }),
    );
    // Email, cal.com and LinkedIn stand-ins: accepted at once, under a provider id made from the activity.
    const instant = (prefix: string, suffix = '') => ({
      send: async (_o: unknown, _c: string, m: { activityId: string }) => ({ providerMessageId: `${prefix}${m.activityId}${suffix}` }),
    });
    t = await startTestApp('pglite', {
      now: () => new Date(clock),
      adapters: {
        whatsapp: graphAdapter(),
        instagram: graphAdapter(),
        email: instant('<', '@crm.test>'),
        'cal-com': instant('booking-'),
        linkedin: instant('li-'),
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });

  const send = (c: { base: string; outboxId: string }, channel: string, to: string, payload: Record<string, unknown>) =>
    request(t.app).post(`${c.base}/send`).send({ channel, outboxId: c.outboxId, to, payload });
  const history = async (c: { base: string }, id: string) =>
    (await request(t.app).get(`${c.base}/activities/${id}/history`)).body.events.map((e: { type: string }) => e.type);
  const contactEvents = async (companyId: string, channel: 'whatsapp' | 'instagram', account: string, contact: string) => {
    try {
      return await t.rt.store.readStream(contactStream({ companyId, channel, account, contact }));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  };

  describe('the GET handshake', () => {
    it('answers the challenge as text/plain when the verify token matches, else 403', async () => {
      const c = await metaCompany(t, {
        channel: 'whatsapp',
        baseUrl: provider.url,
        appSecret: APP_SECRET,
        verifyToken: 'verify-me-please',
      });
      const ok = await request(t.app)
        .get(c.hook)
        .query({ 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me-please', 'hub.challenge': '1158201444' });
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/plain/);
      expect(ok.text).toBe('1158201444');
      for (const query of [
        { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong-token-here', 'hub.challenge': '1' },
        { 'hub.mode': 'unsubscribe', 'hub.verify_token': 'verify-me-please', 'hub.challenge': '1' },
        { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      ]) {
        const res = await request(t.app).get(c.hook).query(query);
        expect(res.status).toBe(403);
        expect(res.body).toEqual({ error: 'Forbidden' });
      }
    });
    it('404 when the outbox has no verify token, is unknown, or is of another channel', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const q = { 'hub.mode': 'subscribe', 'hub.verify_token': 'anything-at-all', 'hub.challenge': '1' };
      expect((await request(t.app).get(c.hook).query(q)).status).toBe(404);
      expect((await request(t.app).get(`/api/webhooks/whatsapp/${randomUUID()}`).query(q)).status).toBe(404);
      expect((await request(t.app).get(`/api/webhooks/instagram/${c.outboxId}`).query(q)).status).toBe(404);
      expect((await request(t.app).get(`/api/webhooks/fax/${c.outboxId}`).query(q)).status).toBe(404);
    });
  });

  describe('POST authentication', () => {
    it('a bad or missing signature is 401 and records nothing; a body that does not parse is 400 and records nothing', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const body = waMessage(c.account, { id: 'wamid.in.auth', from: '+33600000001', at: new Date(clock), text: 'hello' });
      for (const headers of [
        {} as Record<string, string>,
        { 'x-hub-signature-256': sign('another-secret', body) },
        { 'x-hub-signature-256': 'sha256=zz' },
        { 'x-hub-signature-256': sign(APP_SECRET, `${body} `) },
      ]) {
        const res = await postRaw(t, c.hook, body, headers);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: 'Unauthorized' });
      }
      for (const bad of ['{not json', '[]', JSON.stringify({ object: 'page', entry: [] })]) {
        const res = await postRaw(t, c.hook, bad, { 'x-hub-signature-256': sign(APP_SECRET, bad) });
        expect(res.status, bad).toBe(400);
        expect(res.body).toHaveProperty('error');
      }
      // A WhatsApp body whose one message names nobody we can attribute it to is still Meta's: 200 (a 400 is
      // retried, and would hold back the batch's other messages), nothing recorded.
      const unattributable = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ changes: [{ field: 'messages', value: { messages: [{ id: 'x', from: 'not-a-number' }] } }] }],
      });
      const res = await postRaw(t, c.hook, unattributable, { 'x-hub-signature-256': sign(APP_SECRET, unattributable) });
      expect([res.status, res.body]).toEqual([200, { received: 0, recorded: 0 }]);
      expect(await contactEvents(c.companyId, 'whatsapp', c.account, '+33600000001')).toEqual([]);
      // And the window stayed closed: nothing was recorded.
      expect((await send(c, 'whatsapp', '+33600000001', { text: 'hi' })).body.error?.code).toBe('whatsapp_window_closed');
    });
    it('unknown outbox, channel mismatch and an outbox without a webhook secret are 404', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const body = waMessage(c.account, { id: 'wamid.x', from: '+33600000002', at: new Date(clock), text: 'x' });
      const headers = { 'x-hub-signature-256': sign(APP_SECRET, body) };
      expect((await postRaw(t, `/api/webhooks/whatsapp/${randomUUID()}`, body, headers)).status).toBe(404);
      expect((await postRaw(t, `/api/webhooks/instagram/${c.outboxId}`, body, headers)).status).toBe(404);
      expect((await postRaw(t, `/api/webhooks/whatsapp/not-a-uuid`, body, headers)).status).toBe(404);
      const bare = await request(t.app)
        .post(`${c.base}/outboxes`)
        .send({
          channel: 'whatsapp',
          secretRef: (await request(t.app).post(`${c.base}/secrets`).send({ name: 's', value: 'v' })).body.ref,
          config: { phoneNumberId: '5550001' },
        });
      expect(bare.status).toBe(201);
      expect((await postRaw(t, `/api/webhooks/whatsapp/${bare.body.id}`, body, headers)).status).toBe(404);
    });
    it("an outbox's webhook secret must be the company's own", async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const other = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const foreign = (await request(t.app).post(`${other.base}/secrets`).send({ name: 'x', value: 'y' })).body.ref as string;
      const own = (await request(t.app).post(`${c.base}/secrets`).send({ name: 'x', value: 'y' })).body.ref as string;
      const create = (webhook: unknown) =>
        request(t.app)
          .post(`${c.base}/outboxes`)
          .send({ channel: 'whatsapp', secretRef: own, config: { phoneNumberId: '5550002', webhook } });
      expect((await create({ secretRef: foreign })).status).toBe(422);
      expect((await create({ secretRef: 'secret://nope' })).status).toBe(400);
      expect((await create({ secretRef: own, extra: 1 })).status).toBe(400);
      expect(
        (
          await request(t.app)
            .patch(`${c.base}/outboxes/${c.outboxId}`)
            .send({ config: { phoneNumberId: c.account, webhook: { secretRef: foreign } } })
        ).status,
      ).toBe(422);
    });
  });

  describe('WhatsApp', () => {
    it('a receipt that came before its send was known is not recorded again when the provider repeats it', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const bob = '+33622222222';
      const hook = (body: string) => postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) });
      const early = waStatus(c.account, { id: `wamid.${counter + 1}`, status: 'sent', at: new Date(clock), recipient: bob });
      expect((await hook(early)).body).toEqual({ received: 1, recorded: 1 }); // no such message yet: kept on the contact
      const sent = await send(c, 'whatsapp', bob, { template: { name: 'hello_world', language: 'en_US' } });
      expect((await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body.providerMessageId).toBe(`wamid.${counter}`);
      expect((await hook(early)).body).toEqual({ received: 1, recorded: 0 });
      expect(await history(c, sent.body.id)).not.toContain('ActivityDeliveryUpdated');
    });

    it('the 24-hour window, delivery events, replays and replies, end to end', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const ana = '+33611111111';
      const before = provider.received.length;
      const hook = (body: string) => postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) });

      // A free-form text to someone who never wrote: refused before any quota, nothing sent.
      const closed = await send(c, 'whatsapp', ana, { text: 'Hello Ana' });
      expect(closed.body).toMatchObject({ status: 'failed', error: { code: 'whatsapp_window_closed' } });
      expect(provider.received.length).toBe(before);
      const buckets = await request(t.app)
        .get(`${c.base}/credential-buckets`)
        .query({ day: localDay(new Date(clock), 'UTC') });
      expect(buckets.body.items.filter((b: { used: number }) => b.used > 0)).toEqual([]);
      expect(await history(c, closed.body.id)).toEqual(['ActivityRequested', 'ActivityApproved', 'ActivityFailed']);
      const failedEvent = (await request(t.app).get(`${c.base}/activities/${closed.body.id}/history`)).body.events.at(-1);
      expect(failedEvent.data.quotaRefunded).toBe(false);

      // A template may go any time.
      const template = await send(c, 'whatsapp', ana, { template: { name: 'hello_world', language: 'en_US' } });
      expect(template.body).toEqual({ id: expect.any(String), status: 'sent' });
      const wamid = (await request(t.app).get(`${c.base}/activities/${template.body.id}`)).body.providerMessageId as string;
      expect(wamid).toMatch(/^wamid\./);

      // Delivery receipts land on the activity; its status stays `sent`.
      expect(
        (await hook(waStatus(c.account, { id: wamid, status: 'delivered', at: new Date(clock + 1000), recipient: ana }))).body,
      ).toEqual({ received: 1, recorded: 1 });
      const read = waStatus(c.account, { id: wamid, status: 'read', at: new Date(clock + 5000), recipient: ana });
      expect((await hook(read)).body).toEqual({ received: 1, recorded: 1 });
      // A replay is recorded once.
      expect((await hook(read)).body).toEqual({ received: 1, recorded: 0 });
      const activity = (await request(t.app).get(`${c.base}/activities/${template.body.id}`)).body;
      expect(activity).toMatchObject({
        status: 'sent',
        deliveryStatus: 'read',
        deliveryEvents: [
          { type: 'delivery', state: 'delivered', at: new Date(clock + 1000).toISOString() },
          { type: 'delivery', state: 'read', at: new Date(clock + 5000).toISOString() },
        ],
      });
      expect(await history(c, template.body.id)).toEqual([
        'ActivityRequested',
        'ActivityDispatching',
        'ActivitySent',
        'ActivityDeliveryUpdated',
        'ActivityDeliveryUpdated',
      ]);
      const hist = (await request(t.app).get(`${c.base}/activities/${template.body.id}/history`)).body.events;
      expect(hist.at(-1)).toMatchObject({
        type: 'ActivityDeliveryUpdated',
        data: { state: 'read' },
        actor: { type: 'system', id: 'webhook:whatsapp' },
      });

      // Ana writes back: the window opens, and the reply is recorded on the message it answers.
      clock += HOUR;
      const inbound = waMessage(c.account, {
        id: 'wamid.in.1',
        from: ana,
        at: new Date(clock),
        text: 'Yes, tell me more',
        contextId: wamid,
      });
      expect((await hook(inbound)).body).toEqual({ received: 1, recorded: 2 });
      expect((await hook(inbound)).body).toEqual({ received: 1, recorded: 0 });
      expect((await request(t.app).get(`${c.base}/activities/${template.body.id}`)).body.deliveryEvents.at(-1)).toMatchObject({
        type: 'reply',
        text: 'Yes, tell me more',
      });
      expect(await contactEvents(c.companyId, 'whatsapp', c.account, ana)).toHaveLength(1);

      clock += 23 * HOUR;
      const open = await send(c, 'whatsapp', ana, { text: 'Here is more' });
      expect(open.body).toEqual({ id: expect.any(String), status: 'sent' });

      // A later failure is a delivery event: the send's status stays `sent`.
      const openWamid = (await request(t.app).get(`${c.base}/activities/${open.body.id}`)).body.providerMessageId as string;
      await hook(
        waStatus(c.account, {
          id: openWamid,
          status: 'failed',
          at: new Date(clock + 2000),
          recipient: ana,
          errors: [{ code: 131026, title: 'Message undeliverable' }],
        }),
      );
      expect((await request(t.app).get(`${c.base}/activities/${open.body.id}`)).body).toMatchObject({
        status: 'sent',
        deliveryStatus: 'failed',
        deliveryEvents: [{ type: 'delivery', state: 'failed', error: { code: '131026', message: 'Message undeliverable' } }],
      });

      // 24 hours after her message, the window is closed again.
      clock += HOUR;
      expect((await send(c, 'whatsapp', ana, { text: 'Still there?' })).body).toMatchObject({
        status: 'failed',
        error: { code: 'whatsapp_window_closed' },
      });
    });

    it('the window is checked when an approval comes, not only when the send is asked', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET, autoApprove: false });
      const bob = '+33622222222';
      const body = waMessage(c.account, { id: 'wamid.in.bob', from: bob, at: new Date(clock), text: 'hi' });
      await postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) });
      const pending = await send(c, 'whatsapp', bob, { text: 'Thanks for writing' });
      expect(pending.body.status).toBe('draft_pending_approval');
      clock += 25 * HOUR;
      const before = provider.received.length;
      const approved = await request(t.app)
        .post(`${c.base}/approvals/bulk-approve`)
        .send({ approvalIds: [pending.body.approvalId] });
      expect(approved.body.results).toEqual([
        {
          approvalId: pending.body.approvalId,
          activityId: pending.body.id,
          status: 'failed',
          error: expect.objectContaining({ code: 'whatsapp_window_closed' }),
        },
      ]);
      expect(provider.received.length).toBe(before);
    });

    it('a status for a message no send knows is kept on the contact', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const body = waStatus(c.account, { id: 'wamid.unknown', status: 'delivered', at: new Date(clock), recipient: '+33633333333' });
      expect((await postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) })).body).toEqual({
        received: 1,
        recorded: 1,
      });
      const events = await contactEvents(c.companyId, 'whatsapp', c.account, '+33633333333');
      expect(events.map((e) => e.type)).toEqual(['ContactDeliveryUnmatched']);
    });

    // Payloads as Meta documents them: developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/
    // (username users: no `from`, the BSUID as `contacts[].user_id` / `from_user_id`), …/webhooks/reference/messages/status/
    // (`errors[].error_data.details`) and …/webhooks/reference/messages/interactive/ (`button_reply`).
    it('a batch with a username user is recorded whole (200), a failure keeps its details, a button reply its id', async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const hook = (value: Record<string, unknown>) => {
        const body = JSON.stringify({
          object: 'whatsapp_business_account',
          entry: [
            {
              id: 'WABA',
              changes: [
                {
                  field: 'messages',
                  value: {
                    messaging_product: 'whatsapp',
                    metadata: { display_phone_number: '15550001111', phone_number_id: c.account },
                    ...value,
                  },
                },
              ],
            },
          ],
        });
        return postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) });
      };
      const ana = '+33655555555';
      const bsuid = 'US.13491208655302741918';
      const ts = String(Math.floor(clock / 1000));
      const batch = await hook({
        contacts: [
          { profile: { name: 'Ana' }, wa_id: '33655555555', user_id: 'FR.1502576394655843' },
          { profile: { name: 'Bo', username: '@bo' }, user_id: bsuid },
        ],
        messages: [
          { from: '33655555555', id: 'wamid.bsuid.1', timestamp: ts, type: 'text', text: { body: 'Hello' } },
          { from_user_id: bsuid, id: 'wamid.bsuid.2', timestamp: ts, type: 'text', text: { body: 'I have a username' } },
          { id: 'wamid.bsuid.3', timestamp: ts, type: 'text', text: { body: 'nobody can say whose' } },
        ],
      });
      expect(batch.status).toBe(200);
      expect(batch.body).toEqual({ received: 2, recorded: 2 });
      expect((await contactEvents(c.companyId, 'whatsapp', c.account, ana)).map((e) => e.type)).toEqual(['ContactMessageReceived']);
      expect((await contactEvents(c.companyId, 'whatsapp', c.account, bsuid)).map((e) => e.data)).toEqual([
        expect.objectContaining({ text: 'I have a username' }),
      ]);

      // Ana wrote, so a free-form message goes; Meta then reports it failed, with its details.
      const sent = await send(c, 'whatsapp', ana, { text: 'Thanks, here is the offer' });
      expect(sent.body).toEqual({ id: expect.any(String), status: 'sent' });
      const wamid = (await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body.providerMessageId as string;
      const details = 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.';
      const title = 'This message was not delivered to maintain healthy ecosystem engagement.';
      await hook({
        statuses: [
          {
            id: wamid,
            status: 'failed',
            timestamp: ts,
            recipient_id: '33655555555',
            errors: [{ code: 131049, title, message: title, error_data: { details } }],
          },
        ],
      });
      // Her tap on a reply button answers our message: its title is the text, its id kept.
      await hook({
        contacts: [{ profile: { name: 'Ana' }, wa_id: '33655555555' }],
        messages: [
          {
            from: '33655555555',
            id: 'wamid.tap',
            timestamp: String(Number(ts) + 1),
            type: 'interactive',
            context: { from: '15550001111', id: wamid },
            interactive: { type: 'button_reply', button_reply: { id: 'offer-yes', title: 'Yes please' } },
          },
        ],
      });
      const activity = (await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body;
      expect(activity.deliveryEvents).toEqual([
        expect.objectContaining({ type: 'delivery', state: 'failed', error: { code: '131049', message: title, title, details } }),
        expect.objectContaining({ type: 'reply', text: 'Yes please', choice: { kind: 'button', id: 'offer-yes', title: 'Yes please' } }),
      ]);
    });

    it("events for a number that is not one of the company's outboxes are not the company's to record", async () => {
      const c = await metaCompany(t, { channel: 'whatsapp', baseUrl: provider.url, appSecret: APP_SECRET });
      const body = waMessage('999000111', {
        id: 'wamid.in.foreign',
        from: '+33644444444',
        at: new Date(clock),
        text: 'for another business',
      });
      expect((await postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) })).body).toEqual({
        received: 1,
        recorded: 0,
      });
      expect(await contactEvents(c.companyId, 'whatsapp', '999000111', '+33644444444')).toEqual([]);
    });
  });

  describe('Instagram', () => {
    it('24 hours, or 7 days with the human-agent tag', async () => {
      const c = await metaCompany(t, { channel: 'instagram', baseUrl: provider.url, appSecret: APP_SECRET });
      const igsid = '7283901234567890';
      expect((await send(c, 'instagram', igsid, { text: 'Hi' })).body).toMatchObject({
        status: 'failed',
        error: { code: 'instagram_window_closed' },
      });
      const body = igMessage(c.account, { mid: 'mid.in.1', from: igsid, at: new Date(clock), text: 'Do you ship to Lyon?' });
      expect((await postRaw(t, c.hook, body, { 'x-hub-signature-256': sign(APP_SECRET, body) })).body).toEqual({
        received: 1,
        recorded: 1,
      });
      expect((await send(c, 'instagram', igsid, { text: 'We do' })).body.status).toBe('sent');
      clock += 2 * 24 * HOUR;
      expect((await send(c, 'instagram', igsid, { text: 'Following up' })).body).toMatchObject({
        status: 'failed',
        error: { code: 'instagram_window_closed' },
      });
      expect((await send(c, 'instagram', igsid, { text: 'Following up', humanAgent: true })).body.status).toBe('sent');
      // The tag is for people: an AI agent's message under it waits for a person's approval, whatever the rules.
      // (Called on the dispatcher: this test app runs in local_trusted mode, where every caller is the operator.)
      const agent = { kind: 'agent' as const, tokenId: randomUUID(), agentId: 'agent-ig', companyId: c.companyId };
      const { result: byAgent } = await t.rt.dispatcher.send(
        c.companyId,
        { channel: 'instagram', outboxId: c.outboxId, to: igsid, payload: { text: 'As a human', humanAgent: true } },
        agent,
      );
      expect(byAgent).toMatchObject({ status: 'draft_pending_approval', approvalId: expect.any(String) });
      clock += 6 * 24 * HOUR;
      expect((await send(c, 'instagram', igsid, { text: 'Last try', humanAgent: true })).body).toMatchObject({
        status: 'failed',
        error: { code: 'instagram_window_closed' },
      });
    });
  });

  describe('email, cal.com and LinkedIn (Unipile)', () => {
    const company = (channel: 'email' | 'cal-com' | 'linkedin', config: Record<string, unknown>, hookSecret: string) =>
      webhookCompany(t, channel, config, hookSecret);

    it('email: a signed hard bounce shows on the activity; unsigned is refused', async () => {
      const c = await company('email', { fromAddress: 'ops@example.com' }, 'email-hook-key');
      const sent = await send(c, 'email', 'gone@example.org', { subject: 'Hi', text: 'x' });
      expect(sent.body.status).toBe('sent');
      const body = JSON.stringify({
        type: 'bounce',
        messageId: `${sent.body.id}@crm.test`,
        recipient: 'gone@example.org',
        at: new Date(clock).toISOString(),
        reason: '550 5.1.1 user unknown',
      });
      expect((await postRaw(t, c.url, body, emailSignature('wrong', body, new Date(clock)))).status).toBe(401);
      // The former scheme, a signature of the body alone, is refused.
      expect((await postRaw(t, c.url, body, { 'x-crm-signature-256': sign('email-hook-key', body) })).status).toBe(401);
      expect((await postRaw(t, c.url, body, emailSignature('email-hook-key', body, new Date(clock)))).body).toEqual({
        received: 1,
        recorded: 1,
      });
      expect((await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body).toMatchObject({
        status: 'sent',
        deliveryStatus: 'bounced',
        deliveryEvents: [{ type: 'delivery', state: 'bounced', error: { code: 'hard_bounce', message: '550 5.1.1 user unknown' } }],
      });
      // A hard bounce suppresses the address: the next send is blocked before any quota.
      const suppressions = await request(t.app).get(`${c.base}/suppressions`);
      expect(suppressions.body.items).toEqual([
        expect.objectContaining({ recipient: 'gone@example.org', channel: 'email', source: 'bounce' }),
      ]);
      expect((await send(c, 'email', 'Gone@Example.org', { subject: 'Again', text: 'x' })).body).toMatchObject({
        status: 'blocked_by_allowlist',
      });
      // The provider repeats it: nothing new.
      expect((await postRaw(t, c.url, body, emailSignature('email-hook-key', body, new Date(clock)))).body).toEqual({
        received: 1,
        recorded: 0,
      });
      expect((await request(t.app).get(`${c.base}/suppressions`)).body.items).toHaveLength(1);
    });

    it('email: a complaint suppresses too; a soft bounce does not', async () => {
      const c = await company('email', { fromAddress: 'ops@example.com' }, 'email-hook-key');
      const at = new Date(clock).toISOString();
      const events = [
        { type: 'bounce', bounceType: 'soft', messageId: 'm-1@x', recipient: 'full@example.org', at, reason: '452 mailbox full' },
        { type: 'complaint', messageId: 'm-2@x', recipient: 'angry@example.org', at },
      ];
      const body = JSON.stringify(events);
      expect((await postRaw(t, c.url, body, emailSignature('email-hook-key', body, new Date(clock)))).status).toBe(200);
      const items = (await request(t.app).get(`${c.base}/suppressions`)).body.items as { recipient: string; source: string }[];
      expect(items.map((i) => [i.recipient, i.source])).toEqual([['angry@example.org', 'complaint']]);
    });

    it('email: a replayed bounce does not suppress again once a person has lifted the suppression', async () => {
      const c = await company('email', { fromAddress: 'ops@example.com' }, 'email-hook-key');
      const suppressions = async () =>
        (await request(t.app).get(`${c.base}/suppressions`)).body.items as { id: string; recipient: string; source: string }[];
      const sent = await send(c, 'email', 'lifted@example.org', { subject: 'Hi', text: 'x' });
      expect(sent.body.status).toBe('sent');
      const body = JSON.stringify({
        type: 'bounce',
        id: 'evt-replayed',
        messageId: `${sent.body.id}@crm.test`,
        recipient: 'lifted@example.org',
        at: new Date(clock).toISOString(),
      });
      // What an eavesdropper (or a confused relay) keeps: the exact bytes and headers of one signed delivery.
      const captured = emailSignature('email-hook-key', body, new Date(clock));
      expect((await postRaw(t, c.url, body, captured)).body).toEqual({ received: 1, recorded: 1 });
      const [entry] = await suppressions();
      expect(entry).toMatchObject({ recipient: 'lifted@example.org', source: 'bounce' });

      // A person checks the address and lifts the suppression.
      expect((await request(t.app).delete(`${c.base}/suppressions/${entry!.id}`)).status).toBe(204);
      clock += 60_000;
      const replay = await postRaw(t, c.url, body, captured);
      expect([replay.status, replay.body]).toEqual([200, { received: 1, recorded: 0 }]);
      expect(await suppressions()).toEqual([]);
      expect((await send(c, 'email', 'lifted@example.org', { subject: 'Again', text: 'x' })).body).toMatchObject({ status: 'sent' });

      // The same for a bounce that came while the address was already suppressed by hand.
      expect((await request(t.app).post(`${c.base}/suppressions`).send({ recipient: 'noted@example.org', channel: 'email' })).status).toBe(
        201,
      );
      const noted = JSON.stringify({
        type: 'complaint',
        id: 'evt-noted',
        messageId: 'elsewhere@x',
        recipient: 'noted@example.org',
        at: new Date(clock).toISOString(),
      });
      const notedHeaders = emailSignature('email-hook-key', noted, new Date(clock));
      expect((await postRaw(t, c.url, noted, notedHeaders)).status).toBe(200);
      const manual = (await suppressions()).find((s) => s.recipient === 'noted@example.org')!;
      expect(manual.source).toBe('manual');
      expect((await request(t.app).delete(`${c.base}/suppressions/${manual.id}`)).status).toBe(204);
      expect((await postRaw(t, c.url, noted, notedHeaders)).status).toBe(200);
      expect(await suppressions()).toEqual([]);

      // A new report (another event) still suppresses.
      const again = JSON.stringify({
        type: 'bounce',
        id: 'evt-new',
        messageId: `${sent.body.id}@crm.test`,
        recipient: 'lifted@example.org',
        at: new Date(clock).toISOString(),
      });
      expect((await postRaw(t, c.url, again, emailSignature('email-hook-key', again, new Date(clock)))).body).toEqual({
        received: 1,
        recorded: 1,
      });
      expect((await suppressions()).map((s) => s.recipient)).toEqual(['lifted@example.org']);
    });

    it('email: a signature more than 5 minutes from our clock is 401 and records nothing; the captured delivery cannot be replayed later', async () => {
      const c = await company('email', { fromAddress: 'ops@example.com' }, 'email-hook-key');
      const sent = await send(c, 'email', 'late@example.org', { subject: 'Hi', text: 'x' });
      const body = JSON.stringify({
        type: 'bounce',
        id: 'evt-late',
        messageId: `${sent.body.id}@crm.test`,
        recipient: 'late@example.org',
        at: new Date(clock).toISOString(),
      });
      const stale = { error: 'Unauthorized', details: "the signed timestamp is too far from this server's clock" };
      for (const offset of [-301_000, 301_000]) {
        const res = await postRaw(t, c.url, body, emailSignature('email-hook-key', body, new Date(clock + offset)));
        expect([res.status, res.body]).toEqual([401, stale]);
      }
      // No timestamp at all, or one the signature does not cover: plain 401.
      const signed = emailSignature('email-hook-key', body, new Date(clock));
      expect((await postRaw(t, c.url, body, { 'x-crm-signature-256': signed['x-crm-signature-256']! })).body).toEqual({
        error: 'Unauthorized',
      });
      expect((await postRaw(t, c.url, body, { ...signed, 'x-crm-timestamp': String(Number(signed['x-crm-timestamp']) + 1) })).body).toEqual(
        { error: 'Unauthorized' },
      );
      expect((await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body.deliveryEvents).toEqual([]);
      expect((await request(t.app).get(`${c.base}/suppressions`)).body.items).toEqual([]);

      const captured = emailSignature('email-hook-key', body, new Date(clock - 299_000));
      clock += 2_000;
      expect((await postRaw(t, c.url, body, captured)).status).toBe(401);
      expect((await request(t.app).get(`${c.base}/suppressions`)).body.items).toEqual([]);
      expect((await postRaw(t, c.url, body, signed)).body).toEqual({ received: 1, recorded: 1 });
    });

    it('provider times out of range are kept between a month before receipt and five minutes after, and nothing stalls', async () => {
      const c = await company('email', { fromAddress: 'ops@example.com' }, 'email-hook-key');
      const sent = await send(c, 'email', 'time@example.org', { subject: 'Hi', text: 'x' });
      for (const at of ['0000-01-01T00:00:00Z', '2000-01-01T00:00:00Z', '2999-01-01T00:00:00Z']) {
        const body = JSON.stringify({
          type: 'delivered',
          id: `d-${at}`,
          messageId: `${sent.body.id}@crm.test`,
          recipient: 'time@example.org',
          at,
        });
        expect((await postRaw(t, c.url, body, emailSignature('email-hook-key', body, new Date(clock)))).body).toEqual({
          received: 1,
          recorded: 1,
        });
      }
      const activity = await request(t.app).get(`${c.base}/activities/${sent.body.id}`);
      const times = (activity.body.deliveryEvents as { at: string }[]).map((e) => Date.parse(e.at)).sort();
      // Year 0 is no time at all (the receipt time); 2000 is too old to believe; 2999 is ahead of any clock.
      expect(times).toEqual([clock - 30 * 24 * 3600_000, clock, clock + 5 * 60_000]);
      // The read models kept up: a write right after is answered with its resource (201), not a lagging 202.
      expect((await request(t.app).post(`${c.base}/allowlist`).send({ pattern: 'later@example.org' })).status).toBe(201);
    });

    it('cal.com: a cancellation of a booking we made lands on its activity', async () => {
      const c = await company('cal-com', { eventTypeId: 42 }, 'cal-hook-secret');
      const booked = await send(c, 'cal-com', 'lea@example.org', {
        start: '2026-06-10T10:00:00Z',
        attendee: { name: 'Lea', email: 'lea@example.org', timeZone: 'Europe/Paris' },
      });
      expect(booked.body.status).toBe('sent');
      const body = JSON.stringify({
        triggerEvent: 'BOOKING_CANCELLED',
        createdAt: new Date(clock).toISOString(),
        payload: { uid: `booking-${booked.body.id}`, cancellationReason: 'conflict' },
      });
      const hex = sign('cal-hook-secret', body).slice('sha256='.length);
      expect((await postRaw(t, c.url, body, { 'x-cal-signature-256': hex })).body).toEqual({ received: 1, recorded: 1 });
      expect((await postRaw(t, c.url, body, { 'x-cal-signature-256': hex })).body).toEqual({ received: 1, recorded: 0 });
      expect((await request(t.app).get(`${c.base}/activities/${booked.body.id}`)).body).toMatchObject({
        status: 'sent',
        deliveryStatus: 'booking_cancelled',
      });
    });

    it('LinkedIn: a reply through Unipile, authenticated by the Unipile-Auth header, answers the latest message', async () => {
      const c = await company(
        'linkedin',
        { accountId: 'unipile-acc-1', baseUrl: 'https://api1.unipile.com:13111' },
        'unipile-shared-secret',
      );
      const sent = await send(c, 'linkedin', 'ACoAAB123cDeFgHiJkLmNoPqRsTuVwXyZ0', { kind: 'message', text: 'Hello' });
      expect(sent.body.status).toBe('sent');
      const body = JSON.stringify({
        event: 'message_received',
        account_id: 'unipile-acc-1',
        account_type: 'LINKEDIN',
        message_id: 'u-msg-1',
        message: 'Happy to chat',
        timestamp: new Date(clock).toISOString(),
        sender: { attendee_provider_id: 'ACoAAB123cDeFgHiJkLmNoPqRsTuVwXyZ0' },
      });
      expect((await postRaw(t, c.url, body, { 'unipile-auth': 'nope' })).status).toBe(401);
      expect((await postRaw(t, c.url, body, { 'unipile-auth': 'unipile-shared-secret' })).body).toEqual({ received: 1, recorded: 2 });
      expect((await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body.deliveryEvents).toEqual([
        { type: 'reply', at: new Date(clock).toISOString(), text: 'Happy to chat', providerEventId: 'unipile:u-msg-1' },
      ]);
      expect(await history(c, sent.body.id)).toContain('ActivityReplyReceived');
    });
  });
});
