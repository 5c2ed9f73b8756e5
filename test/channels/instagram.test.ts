import { afterEach, describe, expect, it } from 'vitest';
import { instagramAdapter } from '../../src/channels/instagram.js';
import type { OutboxForAdapter } from '../../src/channels/port.js';
import { channelFailure } from '../support/channel-error.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const TOKEN = 'IGAAJ-instagram-secret-token';
const IGSID = '7012345678901234';
const outbox = (baseUrl: string): OutboxForAdapter => ({
  outboxId: 'o1',
  companyId: 'c1',
  channel: 'instagram',
  config: { igUserId: '17841400000000001', baseUrl },
});
const msg = (payload: Record<string, unknown>) => ({ activityId: 'a1', to: IGSID, payload, idempotencyKey: 'a1' });

describe('the Instagram Send API adapter', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('sends a text to an IGSID with the bearer token (default version v26.0, the newest Meta lists: developers.facebook.com/docs/graph-api/changelog/versions/); returns the message id', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 200, { recipient_id: IGSID, message_id: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx' }),
    );
    const sent = await instagramAdapter().send(outbox(server.url), TOKEN, msg({ text: 'Hello from the studio' }));
    expect(sent).toEqual({ providerMessageId: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx' });
    expect(server.received).toHaveLength(1);
    const r = server.received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/v26.0/17841400000000001/messages');
    expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(r.body)).toEqual({ recipient: { id: IGSID }, message: { text: 'Hello from the studio' } });
  });

  it('a human agent reply carries the HUMAN_AGENT message tag', async () => {
    server = await fakeHttpServer((_req, res) => json(res, 200, { recipient_id: IGSID, message_id: 'm2' }));
    await instagramAdapter().send(outbox(server.url), TOKEN, msg({ text: 'A person here', humanAgent: true }));
    expect(JSON.parse(server.received[0]!.body)).toEqual({
      recipient: { id: IGSID },
      message: { text: 'A person here' },
      messaging_type: 'MESSAGE_TAG',
      tag: 'HUMAN_AGENT',
    });
  });

  it('a permanent Meta error (outside the window, 10 / 2534022) surfaces its code once', async () => {
    server = await fakeHttpServer((_req, res) =>
      json(res, 400, {
        error: {
          message: 'This message is sent outside of allowed window.',
          type: 'OAuthException',
          code: 10,
          error_subcode: 2534022,
          fbtrace_id: 'A1',
        },
      }),
    );
    const err = await channelFailure(instagramAdapter().send(outbox(server.url), TOKEN, msg({ text: 'late' })));
    expect(err).toMatchObject({ code: '10', transient: false, refundable: true });
    expect(err.message).toContain('outside of allowed window');
    expect(server.received).toHaveLength(1);
  });

  it('a 429 with Retry-After: 1 is waited for and retried once: two requests', async () => {
    server = await fakeHttpServer((_req, res) =>
      server!.received.length === 1
        ? json(
            res,
            429,
            { error: { message: 'Calls to this api have exceeded the rate limit.', type: 'OAuthException', code: 613, fbtrace_id: 'A2' } },
            { 'retry-after': '1' },
          )
        : json(res, 200, { recipient_id: IGSID, message_id: 'm3' }),
    );
    const started = Date.now();
    const sent = await instagramAdapter().send(outbox(server.url), TOKEN, msg({ text: 'again' }));
    expect(sent.providerMessageId).toBe('m3');
    expect(server.received).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('no reply within the timeout: not refundable, one request', async () => {
    server = await fakeHttpServer(() => {});
    const err = await channelFailure(instagramAdapter({ timeoutMs: 200 }).send(outbox(server.url), TOKEN, msg({ text: 'hang' })));
    expect(err).toMatchObject({ code: 'instagram_outcome_unknown', refundable: false });
    expect(server.received).toHaveLength(1);
  });
});
