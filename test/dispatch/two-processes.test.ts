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

describe.skipIf(!TEST_DATABASE_URL)(`two app processes on one Postgres${POSTGRES_SKIP_REASON}`, () => {
  it('200 concurrent sends split over both against a cap of 50: exactly 50 sent', async () => {
    const smtp = await smtpServer();
    const db = await postgresDatabase();
    const config = testConfig({ secretsMasterKey: TEST_MASTER_KEY });
    // Each "process": its own pool, event store client, projection engine, quota reserver and app.
    const rtA = await createRuntime(config, silentLogger, { db: db.db });
    const rtB = await createRuntime(config, silentLogger, { db: db.connect() });
    try {
      await rtA.engine.start();
      await rtB.engine.start();
      const a = { rt: rtA, app: createApp(rtA), close: async () => {} };
      const b = createApp(rtB);
      const c = await emailCompany(a, { smtpUrl: smtp.url, dailyCap: 50 });
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          request(i % 2 ? b : a.app)
            .post(`${c.base}/send`)
            .send(email(`two${i}@example.org`, {}, c.outboxId)),
        ),
      );
      const tally: Record<string, number> = {};
      for (const r of replies) tally[`${r.status} ${r.body.status}`] = (tally[`${r.status} ${r.body.status}`] ?? 0) + 1;
      expect(tally).toEqual({ '200 sent': 50, '200 blocked_by_quota': 150 });
      expect(smtp.messages.length).toBe(50);
      // Both processes sent some: the cap held between them, not because one did all the work.
      const sentBy = (odd: number) => replies.filter((r, i) => i % 2 === odd && r.body.status === 'sent').length;
      expect(sentBy(0) + sentBy(1)).toBe(50);
      const day = localDay(new Date(), 'UTC');
      for (const app of [a.app, b]) {
        const buckets = await request(app).get(`${c.base}/credential-buckets`).query({ day });
        expect(buckets.body.items).toEqual([{ credential: c.credentialId, day, cap: 50, used: 50 }]);
      }
    } finally {
      await rtA.close();
      await rtB.close();
      await db.drop();
      await smtp.close();
    }
  }, 180_000);

  it('a rolling 7-day limit of 100 across both, one still on the evening before and one on the new day: exactly 100', async () => {
    const smtp = await smtpServer();
    const db = await postgresDatabase();
    const config = testConfig({ secretsMasterKey: TEST_MASTER_KEY });
    // 40 sends three days before, then A's clock just past midnight of day D and B's one second before it.
    let clockA = Date.parse('2026-11-29T12:00:00.000Z');
    let clockB = clockA;
    const rtA = await createRuntime(config, silentLogger, { db: db.db, now: () => new Date(clockA) });
    const rtB = await createRuntime(config, silentLogger, { db: db.connect(), now: () => new Date(clockB) });
    try {
      await rtA.engine.start();
      await rtB.engine.start();
      const a = { rt: rtA, app: createApp(rtA), close: async () => {} };
      const b = createApp(rtB);
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
      const replies = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          request(i % 2 ? b : a.app)
            .post(`${c.base}/send`)
            .send(email(`week${i}@example.org`, {}, c.outboxId)),
        ),
      );
      const tally: Record<string, number> = {};
      for (const r of replies) tally[`${r.status} ${r.body.status}`] = (tally[`${r.status} ${r.body.status}`] ?? 0) + 1;
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
    } finally {
      await rtA.close();
      await rtB.close();
      await db.drop();
      await smtp.close();
    }
  }, 180_000);
});
