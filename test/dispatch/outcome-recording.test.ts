import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/eventstore/port.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

const terminated = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

/**
 * Makes the store's appends of `ActivitySent` fail as a dropped database connection does, while `failing()`
 * says so; `committed` decides whether the append went through before its reply was lost.
 */
function dropSentAppends(store: EventStore, failing: () => boolean, committed: boolean) {
  const real = store.append.bind(store);
  let dropped = 0;
  store.append = (async (stream, events, expected) => {
    if (events.some((e) => e.type === 'ActivitySent') && failing()) {
      dropped++;
      if (committed) await real(stream, events, expected);
      throw terminated();
    }
    return real(stream, events, expected);
  }) as EventStore['append'];
  return { dropped: () => dropped, restore: () => void (store.append = real) };
}

describe('a provider answer the database could not record at once', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  beforeAll(async () => {
    smtp = await smtpServer();
    t = await startTestApp('pglite');
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const sentEvents = async (base: string, id: string) =>
    (await request(t.app).get(`${base}/activities/${id}/history`)).body.events.filter((e: { type: string }) => e.type === 'ActivitySent')
      .length;

  it('a blip (one lost append) is retried: the reply is "sent", recorded once', async () => {
    const c = await emailCompany(t, { smtpUrl: smtp.url });
    let fails = 1;
    const drop = dropSentAppends(t.rt.store, () => fails-- > 0, false);
    try {
      const before = smtp.messages.length;
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('blip@example.org', {}, c.outboxId));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('sent');
      expect(drop.dropped()).toBe(1);
      expect(smtp.messages.length).toBe(before + 1);
      expect(await sentEvents(c.base, res.body.id)).toBe(1);
    } finally {
      drop.restore();
    }
  });

  it('an append that committed but whose reply was lost is not written twice', async () => {
    const c = await emailCompany(t, { smtpUrl: smtp.url });
    let fails = 1;
    const drop = dropSentAppends(t.rt.store, () => fails-- > 0, true);
    try {
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('committed@example.org', {}, c.outboxId));
      expect(res.body.status).toBe('sent');
      expect(drop.dropped()).toBe(1);
      expect(await sentEvents(c.base, res.body.id)).toBe(1);
    } finally {
      drop.restore();
    }
  });

  it('an outage past the inline wait: 503 now, recorded in the background when the database is back, and a retry says "sent"', async () => {
    const c = await emailCompany(t, { smtpUrl: smtp.url });
    let down = true;
    const drop = dropSentAppends(t.rt.store, () => down, false);
    try {
      const before = smtp.messages.length;
      const body = email('outage@example.org', { clientDedupKey: randomUUID() }, c.outboxId);
      const started = Date.now();
      const res = await request(t.app).post(`${c.base}/send`).send(body);
      expect(res.status).toBe(503);
      expect(res.body).toHaveProperty('error');
      expect(Date.now() - started).toBeLessThan(6000);
      down = false;
      let retry = await request(t.app).post(`${c.base}/send`).send(body);
      for (let i = 0; i < 40 && retry.body.status !== 'sent'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        retry = await request(t.app).post(`${c.base}/send`).send(body);
      }
      expect(retry.status).toBe(200);
      expect(retry.body.status).toBe('sent');
      expect(smtp.messages.length).toBe(before + 1);
      expect(await sentEvents(c.base, retry.body.id)).toBe(1);
    } finally {
      drop.restore();
    }
  }, 30_000);

  it('an error that is no outage is not retried: a 500 after one attempt', async () => {
    const c = await emailCompany(t, { smtpUrl: smtp.url });
    const real = t.rt.store.append.bind(t.rt.store);
    let calls = 0;
    t.rt.store.append = (async (stream, events, expected) => {
      if (events.some((e) => e.type === 'ActivitySent')) {
        calls++;
        throw new Error('a bug');
      }
      return real(stream, events, expected);
    }) as EventStore['append'];
    try {
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('bug@example.org', {}, c.outboxId));
      expect(res.status).toBe(500);
      expect(calls).toBe(1);
    } finally {
      t.rt.store.append = real;
    }
  });
});
