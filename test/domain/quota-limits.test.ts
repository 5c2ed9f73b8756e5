import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HeldUnit,
  LimitWindows,
  type QuotaLimit,
  checkLimits,
  effectiveLimits,
  limitsProblem,
  nextPeriodStart,
  periodKey,
  periodStart,
  sharedLimits,
  tightest,
  usage,
} from '../../src/domain/quota-limits.js';

const at = (iso: string) => new Date(iso);
const unit = (iso: string, recipient = 'a@example.org'): HeldUnit => ({ at: at(iso), recipient });
const L = (max: number, per: QuotaLimit['per'], unitKind: QuotaLimit['unit'] = 'sends'): QuotaLimit => ({ max, per, unit: unitKind });

describe('quota limits: given units held, when one more send, then taken or refused with when it reopens', () => {
  it('a calendar day in the outbox time zone: full until the next local midnight', () => {
    const held = [unit('2026-12-01T23:30:00Z'), unit('2026-12-02T08:00:00Z')];
    // 23:30Z is 00:30 in Berlin on the 2nd: both units are on the same local day there, not in UTC.
    expect(checkLimits([L(2, 'day')], held, { recipient: 'x', now: at('2026-12-02T12:00:00Z') }, 'Europe/Berlin')).toEqual({
      limit: L(2, 'day'),
      retryAt: at('2026-12-02T23:00:00Z'),
    });
    expect(checkLimits([L(2, 'day')], held, { recipient: 'x', now: at('2026-12-02T12:00:00Z') }, 'UTC')).toBeNull();
  });

  it('a rolling 7 days: reopens when the oldest unit leaves the window', () => {
    const held = [unit('2026-11-25T10:00:00Z'), unit('2026-11-27T10:00:00Z'), unit('2026-12-01T10:00:00Z')];
    const refusal = checkLimits([L(3, '7d')], held, { recipient: 'x', now: at('2026-12-02T09:00:00Z') }, 'UTC');
    expect(refusal?.retryAt).toEqual(at('2026-12-02T10:00:00Z'));
    expect(checkLimits([L(3, '7d')], held, { recipient: 'x', now: at('2026-12-02T10:00:00Z') }, 'UTC')).toBeNull();
  });

  it('unique recipients: a repeated recipient takes nothing more; a new one is refused at the max', () => {
    const held = [unit('2026-12-02T01:00:00Z', 'a'), unit('2026-12-02T02:00:00Z', 'b'), unit('2026-12-02T03:00:00Z', 'a')];
    const limit = L(2, '24h', 'recipients');
    expect(usage(limit, held, at('2026-12-02T04:00:00Z'), 'UTC')).toBe(2);
    expect(checkLimits([limit], held, { recipient: 'a', now: at('2026-12-02T04:00:00Z') }, 'UTC')).toBeNull();
    // `a`'s latest unit is at 03:00, `b`'s at 02:00: the window has room again when b's leaves.
    expect(checkLimits([limit], held, { recipient: 'c', now: at('2026-12-02T04:00:00Z') }, 'UTC')).toEqual({
      limit,
      retryAt: at('2026-12-03T02:00:00Z'),
    });
  });

  it('a minute throttle and an ISO week, with the first limit that refuses named', () => {
    const held = [unit('2026-12-02T10:00:05Z'), unit('2026-12-02T10:00:40Z')];
    const limits = [L(100, 'week'), L(2, 'minute')];
    expect(checkLimits(limits, held, { recipient: 'x', now: at('2026-12-02T10:00:50Z') }, 'UTC')).toEqual({
      limit: L(2, 'minute'),
      retryAt: at('2026-12-02T10:01:00Z'),
    });
    // 2026-12-02 is a Wednesday: the week reopens on Monday the 7th, local midnight.
    expect(nextPeriodStart('week', at('2026-12-02T10:00:00Z'), 'America/New_York')).toEqual(at('2026-12-07T05:00:00Z'));
    expect(periodKey('week', at('2026-12-06T23:59:00Z'), 'UTC')).toBe('2026-11-30');
  });

  it('hours across DST: the spring-forward day has 23 of them, and the day ends at the real local midnight', () => {
    // Europe/Berlin, 2026-03-29: 02:00 local does not exist (01:00Z is 03:00 CEST).
    expect(nextPeriodStart('hour', at('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toEqual(at('2026-03-29T01:00:00Z'));
    expect(nextPeriodStart('day', at('2026-03-29T12:00:00Z'), 'Europe/Berlin')).toEqual(at('2026-03-29T22:00:00Z'));
    // Fall back, 2026-10-25: the repeated 02:xx counts as one hour (the cautious side), which ends at 01:00Z.
    expect(periodKey('hour', at('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toBe(
      periodKey('hour', at('2026-10-25T01:30:00Z'), 'Europe/Berlin'),
    );
    expect(nextPeriodStart('hour', at('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toEqual(at('2026-10-25T02:00:00Z'));
  });

  it('a period starts at its first local minute, across DST and in half-hour zones', () => {
    expect(periodStart('day', at('2026-03-29T12:00:00Z'), 'Europe/Berlin')).toEqual(at('2026-03-28T23:00:00Z'));
    expect(periodStart('week', at('2026-12-02T10:00:00Z'), 'America/New_York')).toEqual(at('2026-11-30T05:00:00Z'));
    expect(periodStart('hour', at('2026-12-02T10:45:30Z'), 'Asia/Kolkata')).toEqual(at('2026-12-02T10:30:00Z'));
    // The repeated 02:xx of a fall-back night is one period: it began at the first 02:00 (00:00Z).
    expect(periodStart('hour', at('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toEqual(at('2026-10-25T00:00:00Z'));
    expect(periodStart('minute', at('2026-12-02T10:45:30Z'), 'UTC')).toEqual(at('2026-12-02T10:45:00Z'));
  });

  it("a channel's defaults apply unless the outbox states a limit of their kind, which replaces them", () => {
    expect(effectiveLimits('linkedin')).toEqual([L(100, '7d')]);
    expect(effectiveLimits('linkedin', [L(200, '7d'), L(10, 'hour')])).toEqual([L(200, '7d'), L(10, 'hour')]);
    expect(effectiveLimits('whatsapp', [L(50, '24h')])).toEqual([L(50, '24h'), L(250, '24h', 'recipients')]);
    expect(effectiveLimits('email')).toEqual([]);
    expect(tightest([L(5, 'hour'), L(9, '7d')], [L(3, 'hour')])).toEqual([L(3, 'hour'), L(9, '7d')]);
  });

  it('outboxes sharing a credential: the smallest max of each kind, the daily cap as a day limit', () => {
    expect(
      sharedLimits([
        { dailyCap: 50, limits: [L(100, '7d'), L(10, 'minute')] },
        { dailyCap: 30, limits: [L(80, '7d'), L(5, '24h', 'recipients')] },
      ]).sort((a, b) => a.per.localeCompare(b.per)),
    ).toEqual([L(5, '24h', 'recipients'), L(80, '7d'), L(30, 'day'), L(10, 'minute')]);
  });

  it('refuses more than 10 limits and two of one kind', () => {
    expect(limitsProblem(Array.from({ length: 11 }, (_, i) => L(i + 1, 'minute')))).toMatch(/at most 10/);
    expect(limitsProblem([L(1, 'hour'), L(2, 'hour')])).toMatch(/two limits per hour/);
    expect(limitsProblem([L(1, 'hour'), L(2, 'hour', 'recipients')])).toBeNull();
  });
});

/** An independent reading of a window, for the properties: Intl's wall clock, and plain arithmetic for rolling ones. */
function oracleUsage(l: QuotaLimit, held: readonly HeldUnit[], at: number, tz: string): number {
  const wall = (t: number) =>
    new Intl.DateTimeFormat('sv-SE', { timeZone: tz, dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' }).format(new Date(t));
  const monday = (t: number) => {
    const d = wall(t).slice(0, 10);
    const u = Date.parse(`${d}T00:00:00Z`);
    return u - ((new Date(u).getUTCDay() + 6) % 7) * 86_400_000;
  };
  const same = (u: number): boolean => {
    if (u > at) return false;
    switch (l.per) {
      case '24h':
        return u > at - 86_400_000;
      case '7d':
        return u > at - 7 * 86_400_000;
      case 'minute':
        return wall(u) === wall(at);
      case 'hour':
        return wall(u).slice(0, 13) === wall(at).slice(0, 13);
      case 'day':
        return wall(u).slice(0, 10) === wall(at).slice(0, 10);
      case 'week':
        return monday(u) === monday(at);
    }
  };
  const inWindow = held.filter((h) => same(h.at.getTime()));
  return l.unit === 'sends' ? inWindow.length : new Set(inWindow.map((h) => h.recipient)).size;
}

describe('quota limits (properties)', () => {
  const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
  const START = Date.parse('2026-03-27T00:00:00Z'); // spans Europe's and Lord Howe's DST changes within 10 days
  const op = fc.record({
    dtMin: fc.integer({ min: 0, max: 240 }),
    recipient: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    refund: fc.boolean(),
  });
  const limit = fc.record({
    max: fc.integer({ min: 1, max: 6 }),
    per: fc.constantFrom<QuotaLimit['per']>('minute', 'hour', 'day', 'week', '24h', '7d'),
    unit: fc.constantFrom<QuotaLimit['unit']>('sends', 'recipients'),
  });

  it('reservations taken only when checkLimits allows, with random refunds, never exceed any limit at any instant', () => {
    fc.assert(
      fc.property(
        fc.array(limit, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(...ZONES),
        fc.array(op, { maxLength: 60 }),
        (limits, tz, ops) => {
          let t = START;
          const held: HeldUnit[] = [];
          const instants: number[] = [];
          for (const o of ops) {
            t += o.dtMin * 60_000;
            instants.push(t);
            if (o.refund && held.length) {
              held.splice(o.dtMin % held.length, 1);
              continue;
            }
            const now = new Date(t);
            const refusal = checkLimits(limits, held, { recipient: o.recipient, now }, tz);
            if (!refusal) held.push({ at: now, recipient: o.recipient });
            else expect(refusal.retryAt.getTime()).toBeGreaterThan(t);
          }
          // At every instant that happened, and just before each unit leaves a rolling window, no limit is over.
          for (const i of [...instants, ...instants.map((x) => x + 7 * 86_400_000 - 1), ...instants.map((x) => x + 86_400_000 - 1)])
            for (const l of limits) expect(oracleUsage(l, held, i, tz)).toBeLessThanOrEqual(l.max);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the windows counted once for a batch refuse exactly what checkLimits refuses, request after request', () => {
    fc.assert(
      fc.property(
        fc.array(limit, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(...ZONES),
        fc.array(op, { maxLength: 40 }),
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 12 }),
        (limits, tz, ops, batch) => {
          let t = START;
          const held: HeldUnit[] = [];
          for (const o of ops) {
            t += o.dtMin * 60_000;
            if (!checkLimits(limits, held, { recipient: o.recipient, now: new Date(t) }, tz))
              held.push({ at: new Date(t), recipient: o.recipient });
          }
          const now = new Date(t + 30_000);
          const windows = new LimitWindows(limits, held, now, tz);
          for (const recipient of batch) {
            const refusal = checkLimits(limits, held, { recipient, now }, tz);
            expect(windows.refusing(recipient)).toEqual(refusal ? refusal.limit : null);
            if (!refusal) {
              held.push({ at: now, recipient });
              windows.add(recipient);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a refused send is taken at its retryAt when nothing else changes, for the limit that refused it', () => {
    fc.assert(
      fc.property(limit, fc.constantFrom(...ZONES), fc.array(op, { maxLength: 40 }), (l, tz, ops) => {
        let t = START;
        const held: HeldUnit[] = [];
        for (const o of ops) {
          t += o.dtMin * 60_000;
          const refusal = checkLimits([l], held, { recipient: o.recipient, now: new Date(t) }, tz);
          if (!refusal) {
            held.push({ at: new Date(t), recipient: o.recipient });
            continue;
          }
          expect(checkLimits([l], held, { recipient: o.recipient, now: refusal.retryAt }, tz)).toBeNull();
          // And not a minute before it: retryAt is the first minute that takes it.
          const before = new Date(refusal.retryAt.getTime() - 60_000);
          if (before.getTime() > t) expect(checkLimits([l], held, { recipient: o.recipient, now: before }, tz)).not.toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });
});
