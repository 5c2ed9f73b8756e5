import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { createRuntime } from '../../src/runtime.js';
import { localDay } from '../../src/domain/time-window.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, postgresDatabase } from '../support/databases.js';
import { TEST_MASTER_KEY, testConfig } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

type Process = { rt: Awaited<ReturnType<typeof createRuntime>>; app: ReturnType<typeof createApp>; close: () => Promise<void> };

/**
 * Two "processes" on one fresh PostgreSQL database, each with its own pool, event store client, projection
 * engine, quota reserver and app, and its own clock; an SMTP server they both send to.
 */
async function twoProcesses(
  clocks: { a: () => Date; b: () => Date } | null,
  body: (a: Process, b: Process, smtp: Awaited<ReturnType<typeof smtpServer>>) => Promise<void>,
) {
  const smtp = await smtpServer();
  const db = await postgresDatabase();
  const config = testConfig({ secretsMasterKey: TEST_MASTER_KEY });
  const rtA = await createRuntime(config, silentLogger, { db: db.db, ...(clocks ? { now: clocks.a } : {}) });
  const rtB = await createRuntime(config, silentLogger, { db: db.connect(), ...(clocks ? { now: clocks.b } : {}) });
  try {
    await rtA.engine.start();
    await rtB.engine.start();
    const close = async () => {};
    await body({ rt: rtA, app: createApp(rtA), close }, { rt: rtB, app: createApp(rtB), close }, smtp);
  } finally {
    await rtA.close();
    await rtB.close();
    await db.drop();
    await smtp.close();
  }
}

/** Sends split over both processes at once, tallied as `<http status> <send status>`. */
async function sendsOverBoth(a: Process, b: Process, c: { base: string; outboxId: string }, n: number, prefix: string) {
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      request((i % 2 ? b : a).app)
        .post(`${c.base}/send`)
        .send(email(`${prefix}${i}@example.org`, {}, c.outboxId)),
    ),
  );
  const tally: Record<string, number> = {};
  for (const r of replies) tally[`${r.status} ${r.body.status}`] = (tally[`${r.status} ${r.body.status}`] ?? 0) + 1;
  return { replies, tally };
}

describe.skipIf(!TEST_DATABASE_URL)(`two app processes on one Postgres${POSTGRES_SKIP_REASON}`, () => {
  it('200 concurrent sends split over both against a cap of 50: exactly 50 sent', async () => {
    await twoProcesses(null, async (a, b, smtp) => {
      const c = await emailCompany(a, { smtpUrl: smtp.url, dailyCap: 50 });
      const { replies, tally } = await sendsOverBoth(a, b, c, 200, 'two');
      expect(tally).toEqual({ '200 sent': 50, '200 blocked_by_quota': 150 });
      expect(smtp.messages.length).toBe(50);
      // Both processes sent some: the cap held between them, not because one did all the work.
      const sentBy = (odd: number) => replies.filter((r, i) => i % 2 === odd && r.body.status === 'sent').length;
      expect(sentBy(0)).toBeGreaterThan(0);
      expect(sentBy(1)).toBeGreaterThan(0);
      const day = localDay(new Date(), 'UTC');
      for (const p of [a, b]) {
        const buckets = await request(p.app).get(`${c.base}/credential-buckets`).query({ day });
        expect(buckets.body.items).toEqual([{ credential: c.credentialId, day, cap: 50, used: 50 }]);
      }
    });
  }, 180_000);

  it('a rolling 7-day limit of 100 across both, one still on the evening before and one on the new day: exactly 100', async () => {
    // 40 sends three days before, then A's clock just past midnight of day D and B's one second before it.
    let clockA = Date.parse('2026-11-29T12:00:00.000Z');
    let clockB = clockA;
    await twoProcesses({ a: () => new Date(clockA), b: () => new Date(clockB) }, async (a, b, smtp) => {
      const weekly = { max: 100, per: '7d', unit: 'sends' };
      const c = await emailCompany(a, { smtpUrl: smtp.url, dailyCap: 1000, limits: [weekly] });
      for (let i = 0; i < 40; i++) {
        const r = await request(a.app)
          .post(`${c.base}/send`)
          .send(email(`early${i}@example.org`, {}, c.outboxId));
        expect(r.body.status).toBe('sent');
      }
      clockA = Date.parse('2026-12-02T00:00:01.000Z');
      clockB = Date.parse('2026-12-01T23:59:59.000Z');
      const { replies, tally } = await sendsOverBoth(a, b, c, 300, 'week');
      expect(tally).toEqual({ '200 sent': 60, '200 blocked_by_quota': 240 });
      expect(smtp.messages.length).toBe(100);
      // Every refusal names the weekly limit, reopening when the 40 early units leave the window.
      for (const r of replies.filter((x) => x.body.status === 'blocked_by_quota')) {
        expect(r.body.limit).toEqual(weekly);
        expect(r.body.retryAt).toBe('2026-12-06T12:00:00.000Z');
      }
      const view = await request(a.app).get(`${c.base}/credential-buckets`);
      const today = view.body.items.find((x: { credential: string }) => x.credential === c.credentialId);
      expect(today.limits).toEqual([expect.objectContaining({ ...weekly, used: 100, retryAt: '2026-12-06T12:00:00.000Z' })]);
    });
  }, 180_000);
});
