import { type Server, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { calComAdapter } from '../../src/channels/cal-com.js';
import { egressPolicy, parseEgressAllow } from '../../src/channels/egress.js';
import { joinUrl, retryAfterMs } from '../../src/channels/http-provider.js';
import { linkedInAdapter } from '../../src/channels/linkedin.js';
import { whatsAppAdapter } from '../../src/channels/whatsapp.js';
import { channelFailure } from '../support/channel-error.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

describe('the shared provider HTTP mechanics', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs(' 3 ', now)).toBe(3_000);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:02 GMT', now)).toBe(2_000);
    expect(retryAfterMs('Mon, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeNull();
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs('-1', now)).toBeNull();
  });

  it('joins a base URL with or without its trailing slash', () => {
    expect(joinUrl('https://api1.unipile.com:13111', 'api/v1/chats')).toBe('https://api1.unipile.com:13111/api/v1/chats');
    expect(joinUrl('http://127.0.0.1:9/prefix/', '/v2/bookings')).toBe('http://127.0.0.1:9/prefix/v2/bookings');
  });
});

const SECRET_PAGE = 'INTERNAL-SECRET-DATA';
const wa = (baseUrl: string) => ({
  outboxId: 'o1',
  companyId: 'c1',
  channel: 'whatsapp' as const,
  config: { phoneNumberId: '1234567890', baseUrl },
});
const waMsg = { activityId: 'a1', to: '+33612345678', payload: { text: 'hi' }, idempotencyKey: 'a1' };

describe('provider connections', () => {
  it('are kept alive and reused: 20 WhatsApp sends in a row over at most two connections, unrestricted and through the egress check', async () => {
    // Meta's documented success reply to POST /{phone-number-id}/messages: {"messages":[{"id":"wamid…"}]}.
    const server = await fakeHttpServer((_req, res) => json(res, 200, { messages: [{ id: 'wamid.T1' }] }));
    const restricted = egressPolicy({ restricted: true, allow: parseEgressAllow(new URL(server.url).host) });
    try {
      const opened: number[] = [];
      for (const egress of [undefined, restricted]) {
        const before = server.connections();
        const adapter = whatsAppAdapter(egress ? { egress } : {});
        for (let i = 0; i < 20; i++)
          await adapter.send(wa(server.url), 'token', { ...waMsg, activityId: `a${i}`, idempotencyKey: `a${i}` });
        opened.push(server.connections() - before);
      }
      // undici hands a connection back to its pool a moment after the body is read, so the second request may
      // open one more; from there on they are reused (without keep-alive: 20 each).
      expect(opened.every((n) => n >= 1 && n <= 2)).toBe(true);
      expect(server.received).toHaveLength(40);
    } finally {
      await restricted.close();
      await server.close();
    }
  });
});

describe('what a failed provider call tells the client', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  let tcp: Server | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r()));
    tcp = undefined;
  });

  it("a body that is not the provider's documented error shape is never repeated: text, or JSON of another shape", async () => {
    const bodies: [number, unknown][] = [
      [400, SECRET_PAGE],
      [400, { error: { message: SECRET_PAGE } }],
      [400, { message: SECRET_PAGE, detail: SECRET_PAGE, title: SECRET_PAGE }],
      [403, { error: { code: 'x', message: SECRET_PAGE } }],
    ];
    for (const [status, body] of bodies) {
      server = await fakeHttpServer((_req, res) => {
        if (typeof body === 'string') {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(body);
        } else json(res, status, body);
      });
      const outbox = (channel: 'cal-com' | 'linkedin') =>
        channel === 'cal-com'
          ? { outboxId: 'o1', companyId: 'c1', channel, config: { eventTypeId: 42, baseUrl: server!.url } }
          : { outboxId: 'o1', companyId: 'c1', channel, config: { accountId: 'acc_1', baseUrl: server!.url } };
      const errors = [
        await channelFailure(whatsAppAdapter().send(wa(server.url), 'token', waMsg)),
        await channelFailure(
          calComAdapter().send(outbox('cal-com'), 'key', {
            activityId: 'a1',
            to: 'ana@example.org',
            payload: { start: '2030-03-10T11:00:00+02:00', attendee: { name: 'Ana', email: 'ana@example.org', timeZone: 'Europe/Paris' } },
            idempotencyKey: 'a1',
          }),
        ),
        await channelFailure(
          linkedInAdapter().send(outbox('linkedin'), 'key', {
            activityId: 'a1',
            to: 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E',
            payload: { kind: 'invitation' },
            idempotencyKey: 'a1',
          }),
        ),
      ];
      for (const err of errors) {
        expect(`${err.code} ${err.message}`, JSON.stringify(body)).not.toContain(SECRET_PAGE);
        expect(err.code).toMatch(/^(whatsapp|calcom|unipile)_\d{3}$/);
      }
      await server.close();
      server = undefined;
    }
  });

  it('a closed port, a silent one and one that does not speak HTTP differ only in whether the request went out', async () => {
    const closed = await fakeHttpServer(() => {});
    const closedUrl = closed.url;
    await closed.close();
    server = await fakeHttpServer(() => {});
    tcp = createServer((socket) => {
      socket.on('error', () => {});
      socket.write('SSH-2.0-OpenSSH_9.6\r\n');
      // Then hangs up, as a service does with a client it cannot understand.
      socket.on('data', () => socket.destroy());
    });
    await new Promise<void>((r) => tcp!.listen(0, '127.0.0.1', r));
    const garbageUrl = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`;

    const refused = await channelFailure(whatsAppAdapter({ maxRetries: 0 }).send(wa(closedUrl), 'token', waMsg));
    expect(refused).toMatchObject({ code: 'network_error', message: 'the WhatsApp Cloud API could not be reached', refundable: true });
    const silent = await channelFailure(whatsAppAdapter({ timeoutMs: 200 }).send(wa(server.url), 'token', waMsg));
    const garbage = await channelFailure(whatsAppAdapter().send(wa(garbageUrl), 'token', waMsg));
    // Sent, then no usable answer: the same code and the same words, whatever was on the other end.
    for (const err of [silent, garbage]) {
      expect(err).toMatchObject({
        code: 'whatsapp_outcome_unknown',
        refundable: false,
        message: 'the connection to the WhatsApp Cloud API failed after the request was sent: the outcome is unknown',
      });
    }
  });
});
