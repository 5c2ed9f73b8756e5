import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { smtpServer } from '../support/smtp.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Quota limits beyond the daily cap (issue 18) through the API: an outbox's `limits` as given and refused, a
 * limit of distinct recipients in a rolling 24 hours holding end to end (a repeated recipient, however spelt,
 * counted once), the block naming the limit and when it reopens, and the credential-buckets view of each limit.
 */
function suite(backend: 'pglite' | 'postgres') {
  describe(`quota limits through the API on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    let clock = Date.parse('2026-12-02T09:00:00.000Z');
    beforeAll(async () => {
      smtp = await smtpServer();
      t = await startTestApp(backend, { now: () => new Date(clock) });
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
    });

    it('an outbox takes limits, shows them with its channel defaults, and refuses bad ones with a 400 that changes nothing', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const url = `${c.base}/outboxes/${c.outboxId}`;
      const limits = [
        { max: 20, per: 'minute' },
        { max: 500, per: '7d', unit: 'recipients' },
      ];
      const ok = await request(t.app).patch(url).send({ limits });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.limits).toEqual([
        { max: 20, per: 'minute', unit: 'sends' },
        { max: 500, per: '7d', unit: 'recipients' },
      ]);
      const bad: [unknown, RegExp][] = [
        [[{ max: 5, per: 'fortnight' }], /per/],
        [[{ max: 5, per: 'day', unit: 'bytes' }], /unit/],
        [[{ max: 0, per: 'day' }], /at least 1/],
        [[{ max: -3, per: 'hour' }], /at least 1/],
        [[{ max: 1.5, per: 'hour' }], /integer|int/],
        [Array.from({ length: 11 }, (_, i) => ({ max: i + 1, per: 'minute', unit: i % 2 ? 'sends' : 'recipients' })), /at most 10/],
        [
          [
            { max: 5, per: 'hour' },
            { max: 9, per: 'hour' },
          ],
          /two limits per hour/,
        ],
        [[{ max: 5, per: 'hour', burst: 2 }], /burst|unrecognized/i],
        ['100 per day', /array/i],
      ];
      for (const [value, message] of bad) {
        const res = await request(t.app).patch(url).send({ limits: value });
        expect(res.status, JSON.stringify(value)).toBe(400);
        expect(JSON.stringify(res.body)).toMatch(message);
        expect(res.body.error).toEqual(expect.any(String));
      }
      const created = await request(t.app)
        .post(`${c.base}/outboxes`)
        .send({ channel: 'email', secretRef: c.secretRef, config: { fromAddress: 'ops@example.com' }, limits: [{ max: 0, per: 'day' }] });
      expect(created.status).toBe(400);
      const after = await request(t.app).get(url);
      expect(after.body.limits).toEqual(ok.body.limits);

      // A LinkedIn outbox holds to LinkedIn's documented weekly invitations unless it states its own of that kind.
      const li = await request(t.app)
        .post(`${c.base}/outboxes`)
        .send({ channel: 'linkedin', secretRef: c.secretRef, config: { accountId: 'acc-1', baseUrl: 'https://api1.unipile.com:13111' } });
      expect(li.status, JSON.stringify(li.body)).toBe(201);
      expect(li.body.limits).toEqual([]);
      expect(li.body.effectiveLimits).toEqual([{ max: 100, per: '7d', unit: 'sends' }]);
      const premium = await request(t.app)
        .patch(`${c.base}/outboxes/${li.body.id}`)
        .send({ limits: [{ max: 200, per: '7d' }] });
      expect(premium.body.effectiveLimits).toEqual([{ max: 200, per: '7d', unit: 'sends' }]);
    });

    it('distinct recipients in a rolling 24 hours: a repeat (any spelling) is counted once, a new one waits for retryAt', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 100 });
      const limit = { max: 2, per: '24h', unit: 'recipients' };
      expect(
        (
          await request(t.app)
            .patch(`${c.base}/outboxes/${c.outboxId}`)
            .send({ limits: [limit] })
        ).status,
      ).toBe(200);
      const send = async (to: string) =>
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email(to, {}, c.outboxId))
        ).body;
      const start = clock;
      expect((await send('ana@example.org')).status).toBe('sent');
      clock += 30 * MINUTE;
      expect((await send('Ana@Example.org')).status).toBe('sent');
      clock += 30 * MINUTE;
      expect((await send('bo@example.org')).status).toBe('sent');
      const refused = await send('cy@example.org');
      // Ana's latest unit (+30 min: the second spelling is hers) and Bo's (+1 h): Ana's leaves first.
      expect(refused).toEqual({
        id: expect.any(String),
        status: 'blocked_by_quota',
        limit,
        retryAt: new Date(start + 30 * MINUTE + 24 * HOUR).toISOString(),
      });
      const activity = await request(t.app).get(`${c.base}/activities/${refused.id}`);
      expect(activity.body).toMatchObject({
        status: 'blocked_by_quota',
        reason: 'quota_limit_reached',
        error: { code: 'quota_limit_reached', limit, retryAt: refused.retryAt },
      });
      // At the max, a recipient already counted is still taken (and her window now ends later).
      expect((await send('ana@example.org')).status).toBe('sent');
      const reopens = new Date(start + HOUR + 24 * HOUR).toISOString();
      const buckets = await request(t.app).get(`${c.base}/credential-buckets`);
      expect(buckets.body.items).toEqual([
        {
          credential: c.credentialId,
          day: '2026-12-02',
          cap: 100,
          used: 4,
          limits: [{ ...limit, used: 2, windowStart: new Date(clock - 24 * HOUR).toISOString(), retryAt: reopens }],
        },
      ]);
      // A minute before it reopens: still refused; then taken.
      clock = Date.parse(reopens) - MINUTE;
      expect((await send('cy@example.org')).status).toBe('blocked_by_quota');
      clock = Date.parse(reopens);
      expect((await send('cy@example.org')).status).toBe('sent');
      const to = smtp.messages.flatMap((m) => m.to.map((x) => x.toLowerCase()));
      expect(to.filter((x) => x === 'cy@example.org')).toHaveLength(1);
    });

    it('the daily cap is a limit too: its refusal names it and the next local midnight', async () => {
      clock = Date.parse('2026-12-10T10:00:00.000Z'); // 19:00 in Tokyo
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 1, timezone: 'Asia/Tokyo' });
      const send = async (to: string) =>
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email(to, {}, c.outboxId))
        ).body;
      expect((await send('day1@example.org')).status).toBe('sent');
      expect(await send('day2@example.org')).toEqual({
        id: expect.any(String),
        status: 'blocked_by_quota',
        limit: { max: 1, per: 'day', unit: 'sends' },
        retryAt: '2026-12-10T15:00:00.000Z',
      });
    });

    it('a minute throttle refuses the burst beyond it and names the next minute', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 100 });
      expect(
        (
          await request(t.app)
            .patch(`${c.base}/outboxes/${c.outboxId}`)
            .send({ limits: [{ max: 3, per: 'minute' }] })
        ).status,
      ).toBe(200);
      clock = Math.floor(clock / HOUR) * HOUR + 2 * HOUR + 10_000;
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          request(t.app)
            .post(`${c.base}/send`)
            .send(email(`burst${i}@example.org`, {}, c.outboxId)),
        ),
      );
      const statuses = replies.map((r) => r.body.status);
      expect(statuses.filter((s) => s === 'sent')).toHaveLength(3);
      expect(statuses.filter((s) => s === 'blocked_by_quota')).toHaveLength(5);
      for (const r of replies.filter((x) => x.body.status === 'blocked_by_quota'))
        expect(r.body).toMatchObject({
          limit: { max: 3, per: 'minute', unit: 'sends' },
          retryAt: new Date(clock - 10_000 + MINUTE).toISOString(),
        });
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
