import { describe, expect, it } from 'vitest';
import { type ActivityEvent, type ActivityRequest, activityDecider } from '../../src/domain/activity.js';
import { type ContactKey, contactDecider, contactStream, messagingWindowRefusal } from '../../src/domain/contact.js';
import { spec } from '../support/decider-spec.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const ago = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000).toISOString();

describe('the messaging window', () => {
  const cases: [string, Parameters<typeof messagingWindowRefusal>, string | null][] = [
    ['whatsapp text, never wrote', ['whatsapp', { text: 'hi' }, null, NOW], 'whatsapp_window_closed'],
    ['whatsapp text, wrote 1 h ago', ['whatsapp', { text: 'hi' }, ago(1), NOW], null],
    ['whatsapp text, wrote 23 h 59 ago', ['whatsapp', { text: 'hi' }, ago(23.99), NOW], null],
    ['whatsapp text, wrote exactly 24 h ago', ['whatsapp', { text: 'hi' }, ago(24), NOW], 'whatsapp_window_closed'],
    ['whatsapp text, wrote 3 days ago', ['whatsapp', { text: 'hi' }, ago(72), NOW], 'whatsapp_window_closed'],
    ['whatsapp template, never wrote', ['whatsapp', { template: { name: 'hello', language: 'en' } }, null, NOW], null],
    ['instagram, never wrote', ['instagram', { text: 'hi' }, null, NOW], 'instagram_window_closed'],
    ['instagram, wrote 2 h ago', ['instagram', { text: 'hi' }, ago(2), NOW], null],
    ['instagram, wrote 2 days ago', ['instagram', { text: 'hi' }, ago(48), NOW], 'instagram_window_closed'],
    ['instagram human agent, wrote 6 days ago', ['instagram', { text: 'hi', humanAgent: true }, ago(6 * 24), NOW], null],
    [
      'instagram human agent, wrote 7 days ago',
      ['instagram', { text: 'hi', humanAgent: true }, ago(7 * 24), NOW],
      'instagram_window_closed',
    ],
    ['instagram human agent, never wrote', ['instagram', { text: 'hi', humanAgent: true }, null, NOW], 'instagram_window_closed'],
    ['email has no window', ['email', { subject: 's', text: 't' }, null, NOW], null],
    ['linkedin has no window', ['linkedin', { kind: 'message', text: 't' }, null, NOW], null],
  ];
  for (const [name, args, code] of cases) {
    it(name, () => {
      expect(messagingWindowRefusal(...args)?.code ?? null).toBe(code);
    });
  }
});

const key: ContactKey = {
  companyId: '6f1c7c1e-0000-4000-8000-000000000001',
  channel: 'whatsapp',
  account: '1234567890',
  contact: '+33612345678',
};

describe('the contact decider', () => {
  it('records an inbound message; the window follows the latest one, whatever the order they arrive in', () => {
    const events = [
      ...contactDecider.decide(
        { type: 'RecordInbound', key, at: ago(2), text: 'later', providerEventId: 'wamid.2', activityId: null },
        contactDecider.initialState(),
      ),
      ...contactDecider.decide(
        { type: 'RecordInbound', key, at: ago(30), text: 'earlier', providerEventId: 'wamid.1', activityId: null },
        contactDecider.initialState(),
      ),
    ];
    expect(events[0]).toEqual({
      type: 'ContactMessageReceived',
      data: { ...key, at: ago(2), text: 'later', providerEventId: 'wamid.2', activityId: null },
    });
    expect(events.reduce(contactDecider.evolve, contactDecider.initialState()).lastInboundAt).toBe(ago(2));
  });
  it('an unmatched delivery does not open the window', () => {
    const events = contactDecider.decide(
      { type: 'RecordUnmatchedDelivery', key, state: 'delivered', at: ago(1), providerEventId: 'e1', providerMessageId: 'wamid.x' },
      contactDecider.initialState(),
    );
    expect(events.reduce(contactDecider.evolve, contactDecider.initialState()).lastInboundAt).toBeNull();
  });
  it('refuses a time that is not one', () => {
    spec(contactDecider)
      .given([])
      .when({ type: 'RecordInbound', key, at: 'yesterday', text: null, providerEventId: 'x', activityId: null })
      .thenThrows('invalid_input');
  });
  it('names one stream per company, channel, account and person, within the stream-name rules', () => {
    expect(contactStream(key)).toMatch(/^crm_contact-[0-9a-f-]{36}\.[0-9a-f]{40}$/);
    expect(contactStream({ ...key, account: '999' })).not.toBe(contactStream(key));
  });
});

describe('delivery events on an activity', () => {
  const request = {
    activityId: 'a1',
    companyId: key.companyId,
    outboxId: 'o1',
    channel: 'whatsapp',
    outboxChannel: 'whatsapp',
    to: key.contact,
  } as unknown as ActivityRequest;
  const sent: ActivityEvent[] = [
    { type: 'ActivityRequested', data: request as ActivityRequest & Record<string, unknown> },
    { type: 'ActivityApproved', data: { activityId: 'a1', approvalId: null, ruleId: 'r', by: 'rule', at: ago(3) } },
    { type: 'ActivityDispatching', data: { activityId: 'a1', bucket: 'b', credentialId: 'c', day: 'd', leaseUntil: ago(2), at: ago(3) } },
    { type: 'ActivitySent', data: { activityId: 'a1', providerMessageId: 'wamid.1', at: ago(3) } },
  ];
  const delivered: ActivityEvent = {
    type: 'ActivityDeliveryUpdated',
    data: { activityId: 'a1', state: 'delivered', at: ago(2), providerEventId: 'p1' },
  };

  it('records a delivery update on a sent activity', () => {
    spec(activityDecider)
      .given(sent)
      .when({ type: 'RecordDelivery', state: 'delivered', at: ago(2), providerEventId: 'p1' })
      .then([delivered]);
  });
  it('records a provider event once', () => {
    spec(activityDecider)
      .given([...sent, delivered])
      .when({ type: 'RecordDelivery', state: 'delivered', at: ago(2), providerEventId: 'p1' })
      .then([]);
  });
  it('a later failure keeps the status sent (it is a delivery event, not an outcome of the send)', () => {
    const failed = activityDecider.decide(
      { type: 'RecordDelivery', state: 'failed', at: ago(1), providerEventId: 'p2', error: { code: '131026', message: 'undeliverable' } },
      sent.reduce(activityDecider.evolve, activityDecider.initialState()),
    );
    const state = [...sent, ...failed].reduce(activityDecider.evolve, activityDecider.initialState());
    expect(state.status).toBe('sent');
    expect(failed[0]!.data).toMatchObject({ state: 'failed', error: { code: '131026' } });
  });
  it('records a reply, once', () => {
    const reply: ActivityEvent = {
      type: 'ActivityReplyReceived',
      data: { activityId: 'a1', at: ago(1), text: 'thanks', providerEventId: 'm1' },
    };
    spec(activityDecider)
      .given(sent)
      .when({ type: 'RecordReply', at: ago(1), text: 'thanks', providerEventId: 'm1' })
      .then([reply]);
    spec(activityDecider)
      .given([...sent, reply])
      .when({ type: 'RecordReply', at: ago(1), text: 'thanks', providerEventId: 'm1' })
      .then([]);
  });
  it('an activity that was not sent cannot be delivered', () => {
    spec(activityDecider)
      .given(sent.slice(0, 2))
      .when({ type: 'RecordDelivery', state: 'delivered', at: ago(2), providerEventId: 'p1' })
      .thenThrows('invalid_state');
  });
});
