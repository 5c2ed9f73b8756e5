import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { localDay } from '../../src/domain/time-window.js';
import { SEND_SLOTS } from '../../src/runtime.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { silentSmtpServer, smtpServer } from '../support/smtp.js';

const GREETING_MS = 3_000;

async function until(what: string, ok: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`a company whose mail server never greets, on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    let silent: Awaited<ReturnType<typeof silentSmtpServer>>;
    // The dispatcher's slots (runtime.ts): every one of them must be wanted by the stalled company.
    const slots = SEND_SLOTS;
    beforeAll(async () => {
      smtp = await smtpServer();
      silent = await silentSmtpServer();
      t = await startTestApp(backend, { config: { smtpTimeouts: { connectMs: 5_000, greetingMs: GREETING_MS, socketMs: 30_000 } } });
    });
    afterAll(async () => {
      await t?.close();
      await silent?.close();
      await smtp?.close();
    });

    it('gives up on the greeting after CRM_SMTP_GREETING_TIMEOUT_MS: failed, smtp_unreachable, the unit refunded', async () => {
      const a = await emailCompany(t, { smtpUrl: silent.url });
      const started = Date.now();
      const res = await request(t.app)
        .post(`${a.base}/send`)
        .send(email('ana@example.org', {}, a.outboxId));
      const elapsed = Date.now() - started;
      expect(res.body.status).toBe('failed');
      const activity = await request(t.app).get(`${a.base}/activities/${res.body.id}`);
      expect(activity.body.error.code).toBe('smtp_unreachable');
      // 3 s configured; the old fixed wait was 30 s.
      expect(elapsed).toBeGreaterThanOrEqual(GREETING_MS - 100);
      expect(elapsed).toBeLessThan(10_000);
      const buckets = await request(t.app)
        .get(`${a.base}/credential-buckets`)
        .query({ day: localDay(new Date(), 'UTC') });
      expect(buckets.body.items).toEqual([expect.objectContaining({ used: 0 })]);
    }, 45_000);

    it("leaves another company's sends fast: its p99 stays under 1 s while every send of the stalled company hangs", async () => {
      const stalled = await emailCompany(t, { smtpUrl: silent.url });
      const other = await emailCompany(t, { smtpUrl: smtp.url });
      const openBefore = silent.open;
      // More stalled sends than the dispatcher has slots, fired first.
      const stalledSends = Array.from({ length: 2 * slots + 12 }, (_, i) =>
        request(t.app)
          .post(`${stalled.base}/send`)
          .send(email(`s${i}@example.org`, {}, stalled.outboxId))
          .then((r) => r),
      );
      // The stalled company holds its share of the slots (with one semaphore for all: every slot).
      await until('the stalled sends to connect', () => silent.open - openBefore >= slots / 2);

      const latencies: number[] = [];
      const statuses: string[] = [];
      const before = smtp.messages.length;
      // One after another, so that each latency is one send's, with no queueing behind the company's own; at
      // the dispatcher, so that what is measured is the send, not the wait for read models on a busy machine.
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const { result } = await t.rt.dispatcher.send(
          other.companyId,
          { channel: 'email', outboxId: other.outboxId, to: `o${i}@example.org`, payload: { subject: 'Hi', text: 'Hello' } },
          LOCAL_OPERATOR,
        );
        latencies.push(performance.now() - t0);
        statuses.push(result.status);
      }
      latencies.sort((x, y) => x - y);
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(0.99 * latencies.length))]!;
      expect(statuses).toEqual(Array(20).fill('sent'));
      expect(smtp.messages.length).toBe(before + 20);
      // With one semaphore for all, the other company waited for the stalled sends' greeting timeouts (seconds).
      expect(p99).toBeLessThan(1_000);

      // The stalled company's sends were waiting all along, and end as unreachable once the server goes away.
      await silent.close();
      const results = await Promise.all(stalledSends);
      expect(results.map((r) => r.body.status)).toEqual(Array(2 * slots + 12).fill('failed'));
    }, 60_000);
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
