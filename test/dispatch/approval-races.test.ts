import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

function suite(backend: 'pglite' | 'postgres') {
  describe(`approval races on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    beforeAll(async () => {
      smtp = await smtpServer();
      t = await startTestApp(backend);
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
    });

    it('concurrent approves and rejects of one approval: one decision wins, at most one message', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      const pending = (
        await request(t.app)
          .post(`${c.base}/send`)
          .send(email('race@example.org', {}, c.outboxId))
      ).body;
      const before = smtp.messages.length;
      const calls = Array.from({ length: 10 }, (_, i) =>
        request(t.app)
          .post(`${c.base}/approvals/${i % 2 ? 'bulk-reject' : 'bulk-approve'}`)
          .send({ approvalIds: [pending.approvalId] }),
      );
      const replies = await Promise.all(calls);
      const won = replies.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      expect(replies.filter((r) => r.status !== 200).every((r) => r.status === 409)).toBe(true);
      const status = won[0]!.body.results[0].status;
      expect(['sent', 'rejected']).toContain(status);
      expect(smtp.messages.length - before).toBe(status === 'sent' ? 1 : 0);
      const activity = await request(t.app).get(`${c.base}/activities/${pending.id}`);
      expect(activity.body.status).toBe(status);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
