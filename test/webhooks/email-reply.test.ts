import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmailAdapter } from '../../src/channels/email.js';
import { contactStream } from '../../src/domain/contact.js';
import { StreamNotFoundError } from '../../src/eventstore/port.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { smtpServer } from '../support/smtp.js';
import { emailSignature, postRaw } from './support.js';

const HOOK_SECRET = 'email-hook-key';

/**
 * A person's email reply, posted by a relay in our signed format, lands on the send it answers and on their
 * contact, found by the Message-ID the send went out under, whichever bracket form the relay writes it in.
 */
function suite(backend: 'pglite' | 'postgres') {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let clock = Date.parse('2026-06-01T09:00:00Z');
  /** Set to report sends' ids without brackets, as an ESP's API may (nodemailer over SMTP always brackets them). */
  let reportBare = false;

  beforeAll(async () => {
    smtp = await smtpServer();
    const smtpAdapter = new EmailAdapter();
    t = await startTestApp(backend, {
      now: () => new Date(clock),
      adapters: {
        email: {
          async send(outbox, credential, message) {
            const r = await smtpAdapter.send(outbox, credential, message);
            return reportBare && r.providerMessageId ? { ...r, providerMessageId: r.providerMessageId.replace(/^<|>$/g, '') } : r;
          },
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  /** A company with one email outbox on the in-process SMTP server, its webhook signed with HOOK_SECRET. */
  async function company() {
    const companyId = randomUUID();
    const base = `/api/companies/${companyId}/crm`;
    const cred = (await request(t.app).post(`${base}/secrets`).send({ name: 'smtp', value: smtp.url })).body.ref;
    const hook = (await request(t.app).post(`${base}/secrets`).send({ name: 'hook', value: HOOK_SECRET })).body.ref;
    const outbox = await request(t.app)
      .post(`${base}/outboxes`)
      .send({ channel: 'email', secretRef: cred, config: { fromAddress: 'ops@example.com', webhook: { secretRef: hook } } });
    expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
    expect((await request(t.app).post(`${base}/allowlist`).send({ pattern: '*' })).status).toBe(201);
    expect(
      (
        await request(t.app)
          .post(`${base}/approval-rules`)
          .send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 })
      ).status,
    ).toBe(201);
    const outboxId = outbox.body.id as string;
    return { companyId, base, outboxId, url: `/api/webhooks/email/${outboxId}` };
  }
  type Company = Awaited<ReturnType<typeof company>>;

  /** Sends through SMTP; the Message-ID the server received and the id the send stored. */
  async function sendMail(c: Company, to: string) {
    // A minute apart, so that which send is the latest is never a tie.
    clock += 60_000;
    const messages = smtp.messages.length;
    const sent = await request(t.app)
      .post(`${c.base}/send`)
      .send({ channel: 'email', outboxId: c.outboxId, to, payload: { subject: 'Hello', text: 'Shall we talk?' } });
    expect(sent.body).toEqual({ id: expect.any(String), status: 'sent' });
    expect(smtp.messages.length).toBe(messages + 1);
    const header = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(smtp.messages.at(-1)!.raw);
    expect(header).not.toBeNull();
    const stored = (await request(t.app).get(`${c.base}/activities/${sent.body.id}`)).body.providerMessageId as string;
    return { id: sent.body.id as string, messageId: header![1]!, stored };
  }

  const reply = (c: Company, event: Record<string, unknown>) => {
    const body = JSON.stringify({ type: 'reply', at: new Date(clock).toISOString(), ...event });
    return postRaw(t, c.url, body, emailSignature(HOOK_SECRET, body, new Date(clock)));
  };
  const activity = async (c: Company, id: string) => (await request(t.app).get(`${c.base}/activities/${id}`)).body;
  const contactEvents = async (c: Company, contact: string) => {
    try {
      return await t.rt.store.readStream(contactStream({ companyId: c.companyId, channel: 'email', account: c.outboxId, contact }));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  };

  it('a reply naming the Message-ID is recorded on the send and on the contact, once', async () => {
    const c = await company();
    const mail = await sendMail(c, 'ana@example.org');
    expect(mail.stored).toBe(mail.messageId);

    // The relay writes the sender as the From header had it, in capitals; the contact is the send's `to`.
    const res = await reply(c, { inReplyTo: mail.messageId, from: 'Ana@Example.org', text: 'Yes, call me on Monday' });
    expect(res.body).toEqual({ received: 1, recorded: 2 });
    expect((await activity(c, mail.id)).deliveryEvents).toEqual([
      {
        type: 'reply',
        at: new Date(clock).toISOString(),
        text: 'Yes, call me on Monday',
        providerEventId: expect.stringMatching(/^email:reply:/),
      },
    ]);
    const contact = await contactEvents(c, 'ana@example.org');
    expect(contact.map((e) => [e.type, e.data])).toEqual([
      [
        'ContactMessageReceived',
        expect.objectContaining({ activityId: mail.id, text: 'Yes, call me on Monday', contact: 'ana@example.org' }),
      ],
    ]);

    // The relay retries: nothing more. Nor when it retries with the id written bare (the event is named by its fields).
    expect((await reply(c, { inReplyTo: mail.messageId, from: 'Ana@Example.org', text: 'Yes, call me on Monday' })).body).toEqual({
      received: 1,
      recorded: 0,
    });
    expect(
      (await reply(c, { inReplyTo: mail.messageId.replace(/^<|>$/g, ''), from: 'ana@example.org', text: 'Yes, call me on Monday' })).body,
    ).toEqual({ received: 1, recorded: 0 });
    expect((await activity(c, mail.id)).deliveryEvents).toHaveLength(1);
    expect(await contactEvents(c, 'ana@example.org')).toHaveLength(1);
  });

  it('the Message-ID without its brackets finds the send; a reply the ESP named with an id is recorded once under it', async () => {
    const c = await company();
    const first = await sendMail(c, 'bo@example.org');
    // A later send to the same person: a reply that found no message would be taken as answering this one.
    const later = await sendMail(c, 'bo@example.org');
    const bare = first.messageId.replace(/^<|>$/g, '');
    expect((await reply(c, { inReplyTo: bare, from: 'bo@example.org', text: 'About your first mail', id: 'esp-7' })).body).toEqual({
      received: 1,
      recorded: 2,
    });
    expect((await reply(c, { inReplyTo: bare, from: 'bo@example.org', text: 'About your first mail', id: 'esp-7' })).body).toEqual({
      received: 1,
      recorded: 0,
    });
    expect((await activity(c, first.id)).deliveryEvents).toEqual([
      expect.objectContaining({ type: 'reply', providerEventId: 'email:esp-7' }),
    ]);
    expect((await activity(c, later.id)).deliveryEvents).toEqual([]);
  });

  it('a send stored under its bare id is found by a reply naming it in brackets, as the In-Reply-To header writes it', async () => {
    const c = await company();
    reportBare = true;
    let first: Awaited<ReturnType<typeof sendMail>>;
    let later: Awaited<ReturnType<typeof sendMail>>;
    try {
      first = await sendMail(c, 'cy@example.org');
      later = await sendMail(c, 'cy@example.org');
    } finally {
      reportBare = false;
    }
    expect(first.stored).toBe(first.messageId.replace(/^<|>$/g, ''));
    expect((await reply(c, { inReplyTo: first.messageId, from: 'cy@example.org', text: 'Re: Hello' })).body).toEqual({
      received: 1,
      recorded: 2,
    });
    expect((await activity(c, first.id)).deliveryEvents).toEqual([expect.objectContaining({ type: 'reply', text: 'Re: Hello' })]);
    expect((await activity(c, later.id)).deliveryEvents).toEqual([]);
  });

  it('a reply whose sender is not one bare address is refused (400) and records nothing', async () => {
    const c = await company();
    const mail = await sendMail(c, 'di@example.org');
    expect((await reply(c, { inReplyTo: mail.messageId, from: 'Di <di@example.org>', text: 'Hi' })).status).toBe(400);
    expect((await reply(c, { from: 'di@example.org', text: 'Hi' })).status).toBe(400);
    expect((await activity(c, mail.id)).deliveryEvents).toEqual([]);
    expect(await contactEvents(c, 'di@example.org')).toEqual([]);
  });
}

describe('pglite', () => suite('pglite'));
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
