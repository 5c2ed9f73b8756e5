import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { addSecretVersion } from '../../src/commands/secrets.js';
import { activityStream } from '../../src/domain/activity.js';
import { localDay } from '../../src/domain/time-window.js';
import { createLogger } from '../../src/logger.js';
import { masterKeyFrom } from '../../src/secrets/crypto.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

// What another instance, running with a master key of its own, leaves in a shared database.
const OTHER_INSTANCE_KEY = masterKeyFrom(Buffer.alloc(32, 99));

function suite(backend: 'pglite' | 'postgres') {
  describe(`a send whose credential cannot be opened, on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    const lines: string[] = [];
    beforeAll(async () => {
      smtp = await smtpServer();
      t = await startTestApp(backend, { logger: createLogger('info', (l) => lines.push(l)) });
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
    });

    it('fails as secret_unreadable, refunds its unit, never reaches the provider, and logs the secret id but not its value', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 1 });
      const value = 'smtp://u:sealed-elsewhere-pass@127.0.0.1:1';
      await addSecretVersion(
        t.rt.store,
        OTHER_INSTANCE_KEY,
        { companyId: c.companyId, secretId: c.credentialId, value },
        LOCAL_OPERATOR,
        new Date(),
      );
      const before = smtp.messages.length;

      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('ana@example.org', {}, c.outboxId));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'failed', error: { code: 'secret_unreadable' } });
      expect(JSON.stringify(res.body)).not.toContain('sealed-elsewhere-pass');
      expect(smtp.messages.length).toBe(before);

      const day = localDay(new Date(), 'UTC');
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day })).body.items).toEqual([
        { credential: c.credentialId, day, cap: 1, used: 0 },
      ]);
      const events = await t.rt.store.readStream(activityStream(res.body.id));
      expect(events.at(-1)).toMatchObject({ type: 'ActivityFailed', data: { error: { code: 'secret_unreadable' }, quotaRefunded: true } });

      const errors = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.level === 'error');
      expect(errors).toEqual([
        expect.objectContaining({ component: 'dispatcher', credentialId: c.credentialId, activityId: res.body.id, outboxId: c.outboxId }),
      ]);
      expect(lines.join('\n')).not.toMatch(/sealed-elsewhere-pass|mail-pass/);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
