import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotaReserver } from '../../src/commands/quota.js';
import { bucketStream } from '../../src/domain/quota-bucket.js';
import type { QuotaLimit } from '../../src/domain/quota-limits.js';
import { readStreamIfAny } from '../../src/eventstore/read-stream-if-any.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestBackend, sqlBackend } from '../support/stores.js';

// Limits reaching over several days (issue 18), exact between reservers that do not share memory (as two
// processes): one whose clock is still on the evening of day D-1, one already on day D, racing on a 7-day limit.
function suite(label: 'pglite' | 'postgres') {
  describe(`quota limits across days on ${label}`, () => {
    let b: TestBackend;
    beforeAll(async () => {
      b = await sqlBackend(label);
    }, 60_000);
    afterAll(() => b?.drop());

    const weekly: QuotaLimit[] = [{ max: 100, per: '7d', unit: 'sends' }];
    const held = async (companyId: string, credentialId: string, days: string[]) => {
      let n = 0;
      for (const day of days) {
        const events = (await readStreamIfAny(b.store, bucketStream(companyId, credentialId, day))) ?? [];
        const holders = new Set<string>();
        for (const e of events) {
          const id = (e.data as { activityId?: string }).activityId;
          if (e.type === 'QuotaReserved') holders.add(id!);
          if (e.type === 'QuotaRefunded') holders.delete(id!);
        }
        n += holders.size;
      }
      return n;
    };

    it('two reservers at the day boundary, 300 requests at a 7-day limit of 100: exactly 100 units in the window', async () => {
      const companyId = randomUUID();
      const credentialId = randomUUID();
      const late = new QuotaReserver(b.store);
      const early = new QuotaReserver(b.store);
      const seed = new QuotaReserver(b.store);
      const key = (day: string) => ({ companyId, credentialId, day });
      const opts = (i: number) => ({ limits: weekly, recipient: `r${i}@example.org`, tz: 'UTC' });
      // 40 units three days before.
      for (let i = 0; i < 40; i++)
        expect((await seed.reserve(key('2026-11-29'), `seed-${i}`, 1000, new Date('2026-11-29T12:00:00Z'), opts(i))).reserved).toBe(true);
      const lateNow = new Date('2026-12-01T23:59:59Z');
      const earlyNow = new Date('2026-12-02T00:00:01Z');
      const outcomes = await Promise.all([
        ...Array.from({ length: 150 }, (_, i) => late.reserve(key('2026-12-01'), `late-${i}`, 1000, lateNow, opts(1000 + i))),
        ...Array.from({ length: 150 }, (_, i) => early.reserve(key('2026-12-02'), `early-${i}`, 1000, earlyNow, opts(2000 + i))),
      ]);
      expect(outcomes.filter((o) => o.reserved)).toHaveLength(60);
      expect(await held(companyId, credentialId, ['2026-11-29', '2026-12-01', '2026-12-02'])).toBe(100);
      // A refusal says which limit and when it reopens: when the seed's units leave the window.
      const refused = outcomes.find((o) => !o.reserved)!;
      expect(refused.refusal?.limit).toEqual(weekly[0]);
      expect(refused.refusal!.retryAt.getTime()).toBeGreaterThan(earlyNow.getTime());
      // Reservations that found D-1 closed landed on D, which their refunds must name.
      for (const o of outcomes.filter((x) => x.reserved)) expect(['2026-12-01', '2026-12-02']).toContain(o.day);
    }, 120_000);

    it('a refund gives the unit back to the limit; the daily cap still holds alongside', async () => {
      const companyId = randomUUID();
      const credentialId = randomUUID();
      const r = new QuotaReserver(b.store);
      const key = { companyId, credentialId, day: '2026-12-02' };
      const now = new Date('2026-12-02T10:00:00Z');
      const opts = { limits: [{ max: 2, per: '24h', unit: 'sends' } as QuotaLimit], recipient: 'a@example.org', tz: 'UTC' };
      expect((await r.reserve(key, 'a1', 5, now, opts)).reserved).toBe(true);
      expect((await r.reserve(key, 'a2', 5, now, opts)).reserved).toBe(true);
      expect((await r.reserve(key, 'a3', 5, now, opts)).refusal?.limit.per).toBe('24h');
      await r.refund(key, 'a1', now);
      expect((await r.reserve(key, 'a3', 5, now, opts)).reserved).toBe(true);
      const capped = await r.reserve(key, 'a4', 1, now, { ...opts, limits: [{ max: 10, per: '24h', unit: 'sends' }] });
      expect(capped.reserved).toBe(false);
      expect(capped.refusal).toEqual({ limit: { max: 1, per: 'day', unit: 'sends' }, retryAt: new Date('2026-12-03T00:00:00Z') });
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
