import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { calComWebhook } from '../../src/webhooks/cal-com.js';
import { emailWebhook } from '../../src/webhooks/email.js';
import { instagramWebhook, whatsappWebhook } from '../../src/webhooks/meta.js';
import { WebhookPayloadError } from '../../src/webhooks/notices.js';
import { unipileWebhook } from '../../src/webhooks/unipile.js';

const NOW = new Date('2026-06-01T09:00:00Z');
const hex = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

describe('signatures', () => {
  const body = Buffer.from('{"a":1}');
  it('Meta: sha256=<hex> of the raw body', () => {
    expect(whatsappWebhook.verify(body, { 'x-hub-signature-256': `sha256=${hex('s', '{"a":1}')}` }, 's', NOW)).toBe(true);
    expect(whatsappWebhook.verify(body, { 'x-hub-signature-256': hex('s', '{"a":1}') }, 's', NOW)).toBe(false);
    expect(whatsappWebhook.verify(body, { 'x-hub-signature-256': `sha256=${hex('t', '{"a":1}')}` }, 's', NOW)).toBe(false);
    expect(whatsappWebhook.verify(body, {}, 's', NOW)).toBe(false);
  });
  it('cal.com: bare hex in X-Cal-Signature-256', () => {
    expect(calComWebhook.verify(body, { 'x-cal-signature-256': hex('s', '{"a":1}') }, 's', NOW)).toBe(true);
    expect(calComWebhook.verify(body, { 'x-cal-signature-256': `sha256=${hex('s', '{"a":1}')}` }, 's', NOW)).toBe(false);
    expect(calComWebhook.verify(body, { 'x-cal-signature-256': hex('s', '{"a":2}') }, 's', NOW)).toBe(false);
  });
  it('Unipile: the shared secret in Unipile-Auth', () => {
    expect(unipileWebhook.verify(body, { 'unipile-auth': 'the-secret' }, 'the-secret', NOW)).toBe(true);
    expect(unipileWebhook.verify(body, { 'unipile-auth': 'the-secre' }, 'the-secret', NOW)).toBe(false);
    expect(unipileWebhook.verify(body, {}, 'the-secret', NOW)).toBe(false);
  });
  it('email: X-CRM-Signature-256 sha256=<hex> of "<X-CRM-Timestamp>.<raw body>", within 5 minutes of our clock', () => {
    const at = (offsetS: number) => String(Math.floor(NOW.getTime() / 1000) + offsetS);
    const signed = (ts: string, secret = 's', text = '{"a":1}') => ({
      'x-crm-timestamp': ts,
      'x-crm-signature-256': `sha256=${hex(secret, `${ts}.${text}`)}`,
    });
    expect(emailWebhook.verify(body, signed(at(0)), 's', NOW)).toBe(true);
    expect(emailWebhook.verify(body, signed(at(-300)), 's', NOW)).toBe(true);
    expect(emailWebhook.verify(body, signed(at(300)), 's', NOW)).toBe(true);
    // Signed, but outside the window: a replay, or a clock that is off.
    expect(emailWebhook.verify(body, signed(at(-301)), 's', NOW)).toBe('stale');
    expect(emailWebhook.verify(body, signed(at(301)), 's', NOW)).toBe('stale');
    // Not signed by the secret, or not over this timestamp and body: no verdict on the time.
    expect(emailWebhook.verify(body, signed(at(-3600), 't'), 's', NOW)).toBe(false);
    expect(emailWebhook.verify(body, { ...signed(at(0)), 'x-crm-timestamp': at(1) }, 's', NOW)).toBe(false);
    expect(emailWebhook.verify(body, signed(at(0), 's', '{"a":2}'), 's', NOW)).toBe(false);
    // The former scheme (the body alone, no timestamp) is no longer accepted.
    expect(emailWebhook.verify(body, { 'x-crm-signature-256': `sha256=${hex('s', '{"a":1}')}` }, 's', NOW)).toBe(false);
    expect(emailWebhook.verify(body, { 'x-crm-timestamp': at(0), 'x-crm-signature-256': `sha256=${hex('s', '{"a":1}')}` }, 's', NOW)).toBe(
      false,
    );
    for (const ts of ['', '-1', '1.5', ' 1', '0x10', '1e9', at(0).padStart(13, '0')])
      expect(emailWebhook.verify(body, signed(ts), 's', NOW), ts).toBe(false);
    expect(
      emailWebhook.verify(body, { 'x-hub-signature-256': signed(at(0))['x-crm-signature-256'], 'x-crm-timestamp': at(0) }, 's', NOW),
    ).toBe(false);
  });
});

describe('payloads', () => {
  it('WhatsApp: statuses and messages; other fields and states are acknowledged, not recorded', () => {
    const notices = whatsappWebhook.parse(
      {
        object: 'whatsapp_business_account',
        entry: [
          {
            id: 'W',
            changes: [
              {
                field: 'messages',
                value: {
                  metadata: { phone_number_id: '123456' },
                  statuses: [
                    { id: 'wamid.A', status: 'delivered', timestamp: '1780304400', recipient_id: '33611111111' },
                    { id: 'wamid.A', status: 'deleted' },
                  ],
                },
              },
              { field: 'account_update', value: {} },
            ],
          },
        ],
      },
      NOW,
    );
    expect(notices).toEqual([
      {
        kind: 'delivery',
        providerEventId: 'wa:wamid.A:delivered',
        providerMessageIds: ['wamid.A'],
        state: 'delivered',
        at: '2026-06-01T09:00:00.000Z',
        account: '123456',
        recipients: ['+33611111111'],
      },
    ]);
  });
  it('Instagram: messages (not echoes), read and delivery receipts', () => {
    const notices = instagramWebhook.parse(
      {
        object: 'instagram',
        entry: [
          {
            id: '1789',
            time: 1,
            messaging: [
              {
                sender: { id: 'U1' },
                recipient: { id: '1789' },
                timestamp: 1780304400000,
                message: { mid: 'm1', text: 'hey', reply_to: { mid: 'm0' } },
              },
              {
                sender: { id: '1789' },
                recipient: { id: 'U1' },
                timestamp: 1780304400000,
                message: { mid: 'm2', text: 'ours', is_echo: true },
              },
              { sender: { id: 'U1' }, recipient: { id: '1789' }, timestamp: 1780304401000, read: { mid: 'm0' } },
              { sender: { id: 'U1' }, recipient: { id: '1789' }, timestamp: 1780304401000, delivery: { mids: ['m0'], watermark: 1 } },
            ],
          },
        ],
      },
      NOW,
    );
    expect(notices.map((n) => [n.kind, n.providerEventId])).toEqual([
      ['message', 'ig:m1'],
      ['delivery', 'ig:m0:read'],
      ['delivery', 'ig:m0:delivered'],
    ]);
    expect(notices[0]).toMatchObject({ from: 'U1', account: '1789', text: 'hey', inReplyTo: 'm0', at: '2026-06-01T09:00:00.000Z' });
  });
  it('cal.com: bookings created, rescheduled (matched by the original uid too), cancelled; PING ignored', () => {
    expect(calComWebhook.parse({ triggerEvent: 'PING', createdAt: NOW.toISOString(), payload: {} }, NOW)).toEqual([]);
    const [n] = calComWebhook.parse(
      {
        triggerEvent: 'BOOKING_RESCHEDULED',
        createdAt: NOW.toISOString(),
        payload: { uid: 'new', rescheduleUid: 'old', attendees: [{ email: 'a@example.org' }] },
      },
      NOW,
    );
    expect(n).toMatchObject({
      kind: 'delivery',
      state: 'booking_rescheduled',
      providerMessageIds: ['new', 'old'],
      recipients: ['a@example.org'],
    });
    // cal.com builds BOOKING_RESCHEDULED from the new booking (`uid: params.evt.uid`) and adds the one it replaces
    // (`rescheduleUid: dto.rescheduleUid`, which handleNewBooking sets from the request's rescheduleUid): calcom/cal.com
    // packages/features/webhooks/lib/factory/versioned/v2021-10-20/BookingPayloadBuilder.ts. The send learns the new uid.
    expect(n).toMatchObject({ newProviderMessageId: 'new' });
    const [created] = calComWebhook.parse({ triggerEvent: 'BOOKING_CREATED', createdAt: NOW.toISOString(), payload: { uid: 'new' } }, NOW);
    expect(created).not.toHaveProperty('newProviderMessageId');
    // A reschedule naming no other booking (cal.com keeps the uid of a seated booking) teaches nothing new.
    const [same] = calComWebhook.parse(
      { triggerEvent: 'BOOKING_RESCHEDULED', createdAt: NOW.toISOString(), payload: { uid: 'new', rescheduleUid: 'new' } },
      NOW,
    );
    expect(same).not.toHaveProperty('newProviderMessageId');
    expect(() => calComWebhook.parse({ payload: {} }, NOW)).toThrow(WebhookPayloadError);
  });
  it('Unipile: a reply, an accepted invitation; our own message is not a reply', () => {
    const reply = unipileWebhook.parse(
      {
        event: 'message_received',
        account_id: 'acc',
        message_id: 'msg1',
        message: 'Sure',
        timestamp: NOW.toISOString(),
        sender: { attendee_provider_id: 'ACoA1' },
      },
      NOW,
    );
    expect(reply).toEqual([
      {
        kind: 'message',
        providerEventId: 'unipile:msg1',
        account: 'acc',
        from: 'ACoA1',
        at: NOW.toISOString(),
        text: 'Sure',
        inReplyTo: null,
      },
    ]);
    expect(
      unipileWebhook.parse(
        {
          event: 'message_received',
          account_id: 'acc',
          message_id: 'm',
          sender: { attendee_provider_id: 'ME' },
          account_info: { user_id: 'ME' },
        },
        NOW,
      ),
    ).toEqual([]);
    const [accepted] = unipileWebhook.parse(
      { event: 'new_relation', account_id: 'acc', user_provider_id: 'ACoA2', user_public_identifier: 'jane-doe' },
      NOW,
    );
    expect(accepted).toMatchObject({ kind: 'delivery', state: 'accepted', recipients: ['ACoA2', 'jane-doe'], at: NOW.toISOString() });
  });
  it('email: hard bounces and complaints feed suppression, soft bounces do not', () => {
    const notices = emailWebhook.parse(
      [
        { type: 'bounce', messageId: 'abc@mail', recipient: 'a@example.org', at: NOW.toISOString() },
        { type: 'bounce', bounceType: 'soft', messageId: '<abc@mail>', recipient: 'a@example.org', at: NOW.toISOString() },
        { type: 'complaint', messageId: 'abc@mail', recipient: 'a@example.org', at: NOW.toISOString(), id: 'evt-9' },
      ],
      NOW,
    );
    expect(notices.map((n) => (n.kind === 'delivery' ? [n.state, n.suppress ?? null, n.error?.code ?? null] : null))).toEqual([
      ['bounced', 'hard_bounce', 'hard_bounce'],
      ['bounced', null, 'soft_bounce'],
      ['complained', 'complaint', null],
    ]);
    expect(notices[0]).toMatchObject({ providerMessageIds: ['abc@mail', '<abc@mail>'] });
    expect(notices[2]!.providerEventId).toBe('email:evt-9');
    expect(() => emailWebhook.parse({ type: 'opened', messageId: 'x', recipient: 'a@b.c', at: NOW.toISOString() }, NOW)).toThrow(
      WebhookPayloadError,
    );
  });
  it('email: a reply names our message by its Message-ID, in either bracket form, and its sender by a bare address', () => {
    const at = '2026-06-01T08:59:00Z';
    const [withId, bare] = emailWebhook.parse(
      [
        { type: 'reply', inReplyTo: '<m-1@crm.test>', from: ' Ana@Example.ORG ', at, text: 'Yes, call me', id: 'r-1' },
        { type: 'reply', inReplyTo: 'm-1@crm.test', from: 'ana@example.org', at },
      ],
      NOW,
    );
    expect(withId).toEqual({
      kind: 'message',
      providerEventId: 'email:r-1',
      account: null,
      from: 'ana@example.org',
      at: '2026-06-01T08:59:00.000Z',
      text: 'Yes, call me',
      inReplyTo: '<m-1@crm.test>',
      inReplyToForms: ['<m-1@crm.test>', 'm-1@crm.test'],
    });
    expect(bare).toMatchObject({ inReplyTo: '<m-1@crm.test>', inReplyToForms: ['<m-1@crm.test>', 'm-1@crm.test'], text: null });
    // Without an id the event is named by its fields, the same whichever bracket form the relay posted.
    const [bracketed] = emailWebhook.parse({ type: 'reply', inReplyTo: '<m-1@crm.test>', from: 'ana@example.org', at }, NOW);
    expect(bare!.providerEventId).toBe(bracketed!.providerEventId);
    expect(bare!.providerEventId).toBe(`email:reply:m-1@crm.test:ana@example.org:${at}`);
    const long = emailWebhook.parse({ type: 'reply', inReplyTo: 'm-1@crm.test', from: 'ana@example.org', at, text: 'x'.repeat(5000) }, NOW);
    expect(long[0]).toMatchObject({ text: 'x'.repeat(4096) });
  });
  it('email: a reply without its message, with a sender that is not one bare address, or with other fields is refused whole', () => {
    const good = { type: 'reply', inReplyTo: '<m-1@crm.test>', from: 'ana@example.org', at: NOW.toISOString() };
    expect(emailWebhook.parse(good, NOW)).toHaveLength(1);
    const { inReplyTo: _omitted, ...noInReplyTo } = good;
    for (const bad of [
      noInReplyTo,
      { ...good, inReplyTo: '' },
      { ...good, inReplyTo: 'no-at-sign' },
      { ...good, inReplyTo: '<m-1@crm.test' },
      { ...good, inReplyTo: '<a@x> <b@y>' },
      { ...good, from: 'Ana <ana@example.org>' },
      { ...good, from: 'ana@example.org, bo@example.org' },
      { ...good, from: 'not an address' },
      { ...good, from: undefined },
      { ...good, messageId: 'm-1@crm.test' },
      { ...good, at: 'yesterday' },
    ]) {
      expect(() => emailWebhook.parse([good, bad], NOW), JSON.stringify(bad)).toThrow(WebhookPayloadError);
    }
  });
});

/**
 * WhatsApp payloads as Meta documents them in 2026: business-scoped user ids for people who adopt a username
 * (developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/: `contacts[].user_id`
 * is the BSUID, `wa_id` and the message's `from` are omitted when no number is shared; statuses carry
 * `recipient_user_id`), failed statuses (…/whatsapp/webhooks/reference/messages/status/: `errors[{code, title,
 * message, error_data: {details}}]`) and interactive replies (…/webhooks/reference/messages/interactive/:
 * `interactive.button_reply {id, title}`, `interactive.list_reply {id, title, description}`; a template's quick
 * reply is `type: "button"`, `button {payload, text}`).
 */
describe('WhatsApp, as Meta documents it', () => {
  const BSUID = 'US.13491208655302741918';
  const envelope = (value: Record<string, unknown>) => ({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
              ...value,
            },
          },
        ],
      },
    ],
  });
  const messages = (value: Record<string, unknown>) => whatsappWebhook.parse(envelope(value), NOW).filter((n) => n.kind === 'message');

  it('a message from a username user (no from, the BSUID in contacts) is recorded under the BSUID', () => {
    const notices = messages({
      contacts: [{ profile: { name: 'Sheena Nelson', username: '@sheena' }, user_id: BSUID }],
      messages: [
        {
          id: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=',
          timestamp: '1780304400',
          type: 'text',
          text: { body: 'Does it come in another color?' },
        },
      ],
    });
    expect(notices).toEqual([expect.objectContaining({ kind: 'message', from: BSUID, text: 'Does it come in another color?' })]);
  });

  it("one message nobody can be named for is skipped, and its batch's other messages are still recorded", () => {
    const notices = messages({
      contacts: [
        { profile: { name: 'Ana' }, wa_id: '33611111111', user_id: 'FR.1502576394655843' },
        { profile: { name: 'Bo', username: '@bo' }, user_id: BSUID },
      ],
      messages: [
        { from: '33611111111', id: 'wamid.1', timestamp: '1780304400', type: 'text', text: { body: 'from Ana' } },
        // Its own id names the sender although two contacts came with the batch.
        { from_user_id: BSUID, id: 'wamid.2', timestamp: '1780304401', type: 'text', text: { body: 'from Bo' } },
        // No number, no id of its own, two contacts: whose it is cannot be told.
        { id: 'wamid.3', timestamp: '1780304402', type: 'text', text: { body: 'from whom?' } },
        // Not a message this parser can read at all (no id).
        { from: '33611111111', type: 'text', text: { body: 'broken' } },
      ],
    });
    expect(notices.map((n) => n.kind === 'message' && [n.providerEventId, n.from])).toEqual([
      ['wa:wamid.1', '+33611111111'],
      ['wa:wamid.2', BSUID],
    ]);
  });

  it('a status names the recipient by number, else by recipient_user_id; a failure keeps code, title, message and details', () => {
    const notices = whatsappWebhook.parse(
      envelope({
        statuses: [
          {
            id: 'wamid.F',
            status: 'failed',
            timestamp: '1780304400',
            recipient_user_id: BSUID,
            errors: [
              {
                code: 131049,
                title: 'This message was not delivered to maintain healthy ecosystem engagement.',
                message: 'This message was not delivered to maintain healthy ecosystem engagement.',
                error_data: { details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' },
                href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
              },
            ],
          },
        ],
      }),
      NOW,
    );
    expect(notices).toEqual([
      expect.objectContaining({
        kind: 'delivery',
        state: 'failed',
        recipients: [BSUID],
        error: {
          code: '131049',
          message: 'This message was not delivered to maintain healthy ecosystem engagement.',
          title: 'This message was not delivered to maintain healthy ecosystem engagement.',
          details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.',
        },
      }),
    ]);
  });

  it('button and list replies, and a quick reply to a template, are recorded with their text and ids', () => {
    const contacts = [{ profile: { name: 'Ana' }, wa_id: '33611111111' }];
    const context = { from: '15550783881', id: 'wamid.OURS' };
    const notices = messages({
      contacts,
      messages: [
        {
          from: '33611111111',
          id: 'wamid.b',
          timestamp: '1780304400',
          type: 'interactive',
          context,
          interactive: { type: 'button_reply', button_reply: { id: 'book-yes', title: 'Yes, book me' } },
        },
        {
          from: '33611111111',
          id: 'wamid.l',
          timestamp: '1780304401',
          type: 'interactive',
          context,
          interactive: { type: 'list_reply', list_reply: { id: 'slot-tue', title: 'Tuesday', description: '10:00 to 10:30' } },
        },
        {
          from: '33611111111',
          id: 'wamid.q',
          timestamp: '1780304402',
          type: 'button',
          context,
          button: { payload: 'STOP_PROMOS', text: 'Stop promotions' },
        },
      ],
    });
    expect(notices.map((n) => n.kind === 'message' && { text: n.text, choice: n.choice, inReplyTo: n.inReplyTo })).toEqual([
      { text: 'Yes, book me', choice: { kind: 'button', id: 'book-yes', title: 'Yes, book me' }, inReplyTo: 'wamid.OURS' },
      {
        text: 'Tuesday\n10:00 to 10:30',
        choice: { kind: 'list', id: 'slot-tue', title: 'Tuesday', description: '10:00 to 10:30' },
        inReplyTo: 'wamid.OURS',
      },
      { text: 'Stop promotions', choice: { kind: 'quick_reply', id: 'STOP_PROMOS', title: 'Stop promotions' }, inReplyTo: 'wamid.OURS' },
    ]);
  });
});
