import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import type { ChannelAdapter } from '../../src/channels/port.js';
import { silentLogger } from '../../src/logger.js';
import { createRuntime } from '../../src/runtime.js';
import { TEST_MASTER_KEY, testConfig } from '../support/app.js';
import { emailCompany } from '../support/crm.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, postgresDatabase } from '../support/databases.js';

const ENROLLMENTS = 500;
const HOUR = 3600_000;

describe.skipIf(!TEST_DATABASE_URL)(`sequences run by two processes on one Postgres${POSTGRES_SKIP_REASON}`, () => {
  it('500 enrollments x 2 steps, both schedulers racing every pass: exactly 1,000 messages, none twice', async () => {
    let clock = Date.parse('2026-12-07T08:00:00Z');
    const now = () => new Date(clock);
    const calls: { activityId: string; to: string; subject: string }[] = [];
    const email: ChannelAdapter = {
      async send(_outbox, _credential, message) {
        calls.push({ activityId: message.activityId, to: message.to, subject: String(message.payload.subject) });
        return { providerMessageId: `<${randomUUID()}@test>` };
      },
    };
    const db = await postgresDatabase();
    const config = testConfig({ secretsMasterKey: TEST_MASTER_KEY });
    // Each "process": its own pool, event store client, projection engine, dispatcher and scheduler.
    const rtA = await createRuntime(config, silentLogger, { db: db.db, now, adapters: { email } });
    const rtB = await createRuntime(config, silentLogger, { db: db.connect(), now, adapters: { email } });
    try {
      await rtA.engine.start();
      await rtB.engine.start();
      const a = { rt: rtA, app: createApp(rtA), close: async () => {} };
      const c = await emailCompany(a, { smtpUrl: 'smtp://unused@127.0.0.1:9', dailyCap: 5000 });
      const created = await request(a.app)
        .post(`${c.base}/sequences`)
        .send({
          name: 'two processes',
          steps: [
            { outboxId: c.outboxId, payload: { subject: 'one {{n}}', text: 'x' }, waitBefore: 'PT0S' },
            { outboxId: c.outboxId, payload: { subject: 'two {{n}}', text: 'y' }, waitBefore: 'PT1H' },
          ],
        });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      for (let from = 0; from < ENROLLMENTS; from += 250) {
        const contacts = Array.from({ length: 250 }, (_, i) => ({ to: `p${from + i}@example.org`, variables: { n: String(from + i) } }));
        const res = await request(a.app).post(`${c.base}/sequences/${created.body.id}/enrollments`).send({ contacts });
        expect(res.status).toBe(201);
      }
      // Both schedulers pass at once, again and again (no leadership: the dedup keys and revisions must hold alone),
      // until the steps due are sent, then a few more times: nothing more may go.
      const pass = async () => {
        const [x, y] = await Promise.all([rtA.sequences.runOnce(), rtB.sequences.runOnce()]);
        for (const r of [x, y]) if (r.position) await Promise.all([rtA.engine.waitFor(r.position), rtB.engine.waitFor(r.position)]);
      };
      const race = async (expected: number) => {
        const deadline = Date.now() + 120_000;
        while (calls.length < expected && Date.now() < deadline) await pass();
        for (let i = 0; i < 3; i++) await pass();
      };
      await race(ENROLLMENTS);
      expect(calls).toHaveLength(ENROLLMENTS);
      clock += HOUR + 1000;
      await race(2 * ENROLLMENTS);
      expect(calls).toHaveLength(2 * ENROLLMENTS);
      expect(new Set(calls.map((m) => m.activityId)).size).toBe(2 * ENROLLMENTS);
      expect(new Set(calls.map((m) => `${m.to} ${m.subject}`)).size).toBe(2 * ENROLLMENTS);
      const stats = (await request(a.app).get(`${c.base}/sequences/${created.body.id}/stats`)).body;
      expect(stats).toMatchObject({ enrolled: ENROLLMENTS, completed: ENROLLMENTS, active: 0 });
    } finally {
      await rtA.close();
      await rtB.close();
      await db.drop();
    }
  }, 300_000);
});
