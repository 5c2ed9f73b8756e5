import { afterEach, describe, expect, it } from 'vitest';
import { linkedInAdapter } from '../../src/channels/linkedin.js';
import type { OutboxForAdapter } from '../../src/channels/port.js';
import { channelFailure } from '../support/channel-error.js';
import { type Received, fakeHttpServer, json } from '../support/fake-http.js';

const KEY = 'unipile-key-xg3SQMtu.Z1yl0';
const ACCOUNT = 'acc_3H-KVe-mQ2GT9M0hKSkgHgs';
const PROVIDER_ID = 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E';
const outbox = (baseUrl: string): OutboxForAdapter => ({
  outboxId: 'o1',
  companyId: 'c1',
  channel: 'linkedin',
  config: { accountId: ACCOUNT, baseUrl },
});
const msg = (to: string, payload: Record<string, unknown>) => ({ activityId: 'a1', to, payload, idempotencyKey: 'a1' });

/** Unipile as documented: profile lookup, invitations (JSON), new chats (multipart). */
function unipile(over: { invite?: (r: Received) => [number, unknown, Record<string, string>?] } = {}) {
  return fakeHttpServer((req, res) => {
    if (req.method === 'GET' && req.url.startsWith('/api/v1/users/')) {
      if (req.url.startsWith('/api/v1/users/nobody'))
        return json(res, 404, {
          status: 404,
          type: 'errors/resource_not_found',
          title: 'Resource not found.',
          detail: 'The requested user was not found.',
        });
      return json(res, 200, {
        object: 'UserProfile',
        provider: 'LINKEDIN',
        provider_id: PROVIDER_ID,
        public_identifier: 'julien-crepieux',
        first_name: 'Julien',
      });
    }
    if (req.method === 'POST' && req.url === '/api/v1/users/invite') {
      const [status, body, headers] = over.invite?.(req) ?? [
        201,
        { object: 'UserInvitationSent', invitation_id: '7204563453921312768', usage: 12 },
      ];
      return json(res, status, body, headers);
    }
    if (req.method === 'POST' && req.url === '/api/v1/chats')
      return json(res, 201, { object: 'ChatStarted', chat_id: 'dMW1cjFwXq-dYoAEaMXo2d', message_id: 'Gav3xjVKVNe0IRZBEC9mSg' });
    json(res, 404, { status: 404, type: 'errors/not_found', title: 'Not found' });
  });
}

describe('the LinkedIn adapter (through Unipile)', () => {
  let server: Awaited<ReturnType<typeof fakeHttpServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('an invitation to a profile URL: resolves the public identifier, then invites with the note', async () => {
    server = await unipile();
    const sent = await linkedInAdapter().send(
      outbox(server.url),
      KEY,
      msg('https://www.linkedin.com/in/julien-crepieux/', { kind: 'invitation', note: 'Hello Julien' }),
    );
    // The member id the lookup found is part of what the send tells: Unipile names the member by it alone in a reply
    // (`sender.attendee_provider_id`, developer.unipile.com/docs/new-messages-webhook).
    expect(sent).toEqual({ providerMessageId: '7204563453921312768', recipientAliases: [PROVIDER_ID] });
    expect(server.received.map((r) => `${r.method} ${r.url}`)).toEqual([
      `GET /api/v1/users/julien-crepieux?account_id=${ACCOUNT}`,
      'POST /api/v1/users/invite',
    ]);
    for (const r of server.received) expect(r.headers['x-api-key']).toBe(KEY);
    const invite = server.received[1]!;
    expect(invite.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(invite.body)).toEqual({ provider_id: PROVIDER_ID, account_id: ACCOUNT, message: 'Hello Julien' });
  });

  it('a message to a provider id: no lookup, a new chat as multipart/form-data; returns the message id', async () => {
    server = await unipile();
    const sent = await linkedInAdapter().send(
      outbox(server.url),
      KEY,
      msg(PROVIDER_ID, { kind: 'message', text: 'Thanks for connecting' }),
    );
    expect(sent).toEqual({ providerMessageId: 'Gav3xjVKVNe0IRZBEC9mSg' });
    expect(server.received).toHaveLength(1);
    const r = server.received[0]!;
    expect(`${r.method} ${r.url}`).toBe('POST /api/v1/chats');
    expect(r.headers['x-api-key']).toBe(KEY);
    expect(r.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const form = await new Response(r.body, { headers: { 'content-type': r.headers['content-type']! } }).formData();
    expect(Object.fromEntries(form.entries())).toEqual({ account_id: ACCOUNT, attendees_ids: PROVIDER_ID, text: 'Thanks for connecting' });
  });

  it('a public identifier written as a handle is looked up too', async () => {
    server = await unipile();
    await linkedInAdapter().send(outbox(server.url), KEY, msg('@julien-crepieux', { kind: 'invitation' }));
    expect(server.received[0]!.url).toBe(`/api/v1/users/julien-crepieux?account_id=${ACCOUNT}`);
    expect(JSON.parse(server.received[1]!.body)).toEqual({ provider_id: PROVIDER_ID, account_id: ACCOUNT });
  });

  it('an unknown profile: unipile_resource_not_found, refundable, nothing sent', async () => {
    server = await unipile();
    const err = await channelFailure(linkedInAdapter().send(outbox(server.url), KEY, msg('nobody', { kind: 'invitation' })));
    expect(err).toMatchObject({ code: 'unipile_resource_not_found', transient: false, refundable: true });
    expect(server.received.map((r) => r.method)).toEqual(['GET']);
  });

  it('a URL that is not a LinkedIn profile is refused before any request', async () => {
    server = await unipile();
    const err = await channelFailure(
      linkedInAdapter().send(outbox(server.url), KEY, msg('https://example.com/in/x', { kind: 'invitation' })),
    );
    expect(err.code).toBe('unipile_recipient_invalid');
    expect(server.received).toHaveLength(0);
  });

  it('a permanent Unipile error surfaces its type as the code, once', async () => {
    server = await unipile({
      invite: () => [
        422,
        { status: 422, type: 'errors/cannot_resend_yet', title: 'Cannot resend yet', detail: 'The invitation was already sent recently.' },
      ],
    });
    const err = await channelFailure(linkedInAdapter().send(outbox(server.url), KEY, msg(PROVIDER_ID, { kind: 'invitation' })));
    expect(err).toMatchObject({ code: 'unipile_cannot_resend_yet', transient: false, refundable: true });
    expect(err.message).toContain('already sent recently');
    expect(server.received.filter((r) => r.url === '/api/v1/users/invite')).toHaveLength(1);
  });

  it('a 429 with Retry-After: 0, then success: two invitation requests', async () => {
    let calls = 0;
    server = await unipile({
      invite: () =>
        ++calls === 1
          ? [429, { status: 429, type: 'errors/too_many_requests', title: 'Too many requests' }, { 'retry-after': '0' }]
          : [201, { object: 'UserInvitationSent', invitation_id: 'inv-2' }],
    });
    const sent = await linkedInAdapter().send(outbox(server.url), KEY, msg(PROVIDER_ID, { kind: 'invitation' }));
    expect(sent.providerMessageId).toBe('inv-2');
    expect(server.received.filter((r) => r.url === '/api/v1/users/invite')).toHaveLength(2);
  });

  it('the lookup is a read: a timeout there is retried and, if it persists, refundable', async () => {
    server = await fakeHttpServer(() => {});
    const err = await channelFailure(
      linkedInAdapter({ timeoutMs: 150, maxRetries: 1 }).send(outbox(server.url), KEY, msg('julien-crepieux', { kind: 'invitation' })),
    );
    // One code for every failure without a reply: errors must not tell a silent port from a closed one.
    expect(err).toMatchObject({ code: 'network_error', message: 'Unipile could not be reached', transient: true, refundable: true });
    expect(server.received.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('no reply to the invitation within the timeout: outcome unknown, not refundable, one request', async () => {
    server = await fakeHttpServer(() => {});
    const err = await channelFailure(
      linkedInAdapter({ timeoutMs: 200 }).send(outbox(server.url), KEY, msg(PROVIDER_ID, { kind: 'invitation' })),
    );
    expect(err).toMatchObject({ code: 'unipile_outcome_unknown', transient: false, refundable: false });
    expect(server.received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/v1/users/invite']);
  });
});
