import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketStream } from '../../src/domain/quota-bucket.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';

// 23:30 UTC: already the next day in Tokyo, still today in UTC.
const NOW = new Date('2026-12-02T23:30:00.000Z');

function suite(backend: 'pglite' | 'postgres') {
  describe(`credential buckets without a day: today in each credential’s time zone, on ${backend}`, () => {
    let t: TestApp;
    const companyId = randomUUID();
    const base = `/api/companies/${companyId}/crm`;
    let tokyo: string;
    let utc: string;
    beforeAll(async () => {
      t = await startTestApp(backend, { now: () => NOW });
      const outboxOn = async (name: string, timezone: string) => {
        const secret = await request(t.app).post(`${base}/secrets`).send({ name, value: 'smtp://u:p@mail.example.org:587' });
        expect(secret.status).toBe(201);
        const outbox = await request(t.app)
          .post(`${base}/outboxes`)
          .send({ channel: 'email', secretRef: secret.body.ref, config: { fromAddress: 'ops@example.com' }, dailyCap: 10, timezone });
        expect(outbox.status).toBe(201);
        return secret.body.id as string;
      };
      tokyo = await outboxOn('tokyo', 'Asia/Tokyo');
      utc = await outboxOn('utc', 'UTC');
      for (const credentialId of [tokyo, utc]) {
        for (const day of ['2026-12-02', '2026-12-03']) {
          const r = await t.rt.store.append(
            bucketStream(companyId, credentialId, day),
            [{ type: 'QuotaReserved', data: { companyId, credentialId, day, activityId: randomUUID(), cap: 10, at: NOW.toISOString() } }],
            'no_stream',
          );
          await t.rt.engine.waitFor(r.position);
        }
      }
    });
    afterAll(() => t?.close());

    it('lists each credential’s bucket of its own local today', async () => {
      const res = await request(t.app).get(`${base}/credential-buckets`);
      expect(res.status).toBe(200);
      const byCredential = Object.fromEntries((res.body.items as { credential: string; day: string }[]).map((b) => [b.credential, b.day]));
      expect(byCredential).toEqual({ [tokyo]: '2026-12-03', [utc]: '2026-12-02' });
    });

    it('still takes an explicit day, and refuses a malformed one', async () => {
      const res = await request(t.app).get(`${base}/credential-buckets`).query({ day: '2026-12-02' });
      expect((res.body.items as { credential: string }[]).map((b) => b.credential).sort()).toEqual([tokyo, utc].sort());
      expect((await request(t.app).get(`${base}/credential-buckets`).query({ day: 'tomorrow' })).status).toBe(400);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
