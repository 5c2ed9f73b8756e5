import { afterEach, describe, expect, it } from 'vitest';
import type { OutboxForAdapter } from '../../src/channels/port.js';
import { whatsAppAdapter } from '../../src/channels/whatsapp.js';
import { channelFailure as failure } from '../support/channel-error.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const TOKEN = 'EAAG-whatsapp-secret-token';
const outbox = (baseUrl: string): OutboxForAdapter => ({
  outboxId: 'o1',
  companyId: 'c1',
  channel: 'whatsapp',
  config: { phoneNumberId: '1234567890', apiVersion: 'v21.0', baseUrl },
});
const msg = (payload: Record<string, unknown>, to = '+33612345678') => ({ activityId: 'a1', to, payload, idempotencyKey: 'a1' });
const metaError = (code: number, message: string) => ({
  error: { message, type: 'OAuthException', code, error_subcode: 2494010, fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam' },
});

describe('the WhatsApp Cloud API adapter', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('sends a text message: path, bearer token, digits-only recipient, JSON body; returns the message id', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: '33612345678', wa_id: '33612345678' }],
        messages: [{ id: 'wamid.HBgLMzM2MTIzNDU2NzgVAgARGBI' }],
      }),
    );
    const sent = await whatsAppAdapter().send(outbox(server.url), TOKEN, msg({ text: 'Bonjour Ana' }));
    expect(sent).toEqual({ providerMessageId: 'wamid.HBgLMzM2MTIzNDU2NzgVAgARGBI' });
    expect(server.received).toHaveLength(1);
    const r = server.received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/v21.0/1234567890/messages');
    expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '33612345678',
      type: 'text',
      text: { body: 'Bonjour Ana' },
    });
  });

  it('sends a template with its language and components', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 200, { messages: [{ id: 'wamid.T1' }] }));
    const components = [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }];
    const sent = await whatsAppAdapter().send(
      outbox(server.url),
      TOKEN,
      msg({ template: { name: 'welcome', language: 'fr', components } }),
    );
    expect(sent.providerMessageId).toBe('wamid.T1');
    expect(JSON.parse(server.received[0]!.body)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '33612345678',
      type: 'template',
      template: { name: 'welcome', language: { code: 'fr' }, components },
    });
  });

  it('a permanent Meta error surfaces its code, is refundable, and is not retried', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 400, metaError(131047, 'Re-engagement message')));
    const err = await failure(whatsAppAdapter({ maxRetries: 2 }).send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({ code: '131047', transient: false, refundable: true });
    expect(err.message).toContain('Re-engagement message');
    expect(server.received).toHaveLength(1);
  });

  it('never repeats the token that a provider message may echo', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 401, metaError(190, `Invalid OAuth access token - Cannot parse access token ${TOKEN}`)),
    );
    const err = await failure(whatsAppAdapter().send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err.code).toBe('190');
    expect(err.message).not.toContain(TOKEN);
    expect(JSON.stringify(err)).not.toContain(TOKEN);
  });

  it('a rate limit (429, Meta 130429, Retry-After 0) is retried, then the send goes: two requests', async () => {
    server = await fakeHttpServer((_req, res) =>
      server!.received.length === 1
        ? json(res, 429, metaError(130429, 'Rate limit hit'), { 'retry-after': '0' })
        : json(res, 200, { messages: [{ id: 'wamid.R2' }] }),
    );
    const sent = await whatsAppAdapter().send(outbox(server.url), TOKEN, msg({ text: 'hi' }));
    expect(sent.providerMessageId).toBe('wamid.R2');
    expect(server.received).toHaveLength(2);
    expect(server.received[1]!.body).toBe(server.received[0]!.body);
  });

  it('a throttling code is retried even under HTTP 400; retries are bounded and the last error is transient', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 400, metaError(131056, 'Pair rate limit hit'), { 'retry-after': '0' }));
    const err = await failure(whatsAppAdapter({ maxRetries: 2 }).send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({ code: '131056', transient: true, refundable: true });
    expect(server.received).toHaveLength(3);
  });

  it('a Retry-After longer than the cap is not waited for: one request, a transient refundable error', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 429, metaError(130429, 'Rate limit hit'), { 'retry-after': '120' }));
    const started = Date.now();
    const err = await failure(whatsAppAdapter({ maxRetryAfterMs: 1_000 }).send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({ code: '130429', transient: true, refundable: true });
    expect(server.received).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('a 500 may come after the message was taken: not retried, not refundable', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 500, metaError(131000, 'Something went wrong')));
    const err = await failure(whatsAppAdapter().send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({ code: '131000', refundable: false });
    expect(server.received).toHaveLength(1);
  });

  it('no reply within the timeout: outcome unknown, not refundable, not retried', async () => {
    server = await fakeHttpServer(() => {});
    const err = await failure(whatsAppAdapter({ timeoutMs: 200 }).send(outbox(server.url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({ code: 'whatsapp_outcome_unknown', transient: false, refundable: false });
    expect(server.received).toHaveLength(1);
  });

  it('connection refused: nothing was sent, so it is retried, then fails transient and refundable', async () => {
    const gone = await fakeHttpServer(() => {});
    const url = gone.url;
    await gone.close();
    const started = Date.now();
    const err = await failure(whatsAppAdapter({ maxRetries: 1 }).send(outbox(url), TOKEN, msg({ text: 'hi' })));
    expect(err).toMatchObject({
      code: 'network_error',
      message: 'the WhatsApp Cloud API could not be reached',
      transient: true,
      refundable: true,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});
