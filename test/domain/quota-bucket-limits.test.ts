import { describe, it } from 'vitest';
import { type QuotaBucketCommand, type QuotaBucketEvent, quotaBucketDecider } from '../../src/domain/quota-bucket.js';
import type { QuotaLimit } from '../../src/domain/quota-limits.js';
import { spec } from '../support/decider-spec.js';

// The day bucket with limits beyond its cap (issue 18): limits checked against the day's units and the prior
// days' (closed, final); a closed day takes no reservation.
const key = { companyId: 'c', credentialId: 'k', day: '2026-12-02' };
const reserved = (activityId: string, at: string, recipient?: string): QuotaBucketEvent => ({
  type: 'QuotaReserved',
  data: { ...key, activityId, cap: 100, at, ...(recipient ? { recipient } : {}) },
});
const reserve = (
  requests: { activityId: string; recipient?: string }[],
  now: string,
  limits?: { limits: QuotaLimit[]; prior?: { at: Date; recipient: string }[] },
): QuotaBucketCommand => ({
  type: 'Reserve',
  ...key,
  requests: requests.map((r) => ({ ...r, cap: 100 })),
  now,
  ...(limits ? { limits: { limits: limits.limits, prior: limits.prior ?? [], tz: 'UTC' } } : {}),
});

describe('quota bucket with limits (given/when/then)', () => {
  const bucket = spec(quotaBucketDecider);

  it('a closed day takes no reservation, still takes a refund, and closes once', () => {
    const closed: QuotaBucketEvent = { type: 'QuotaDayClosed', data: { ...key, at: '2026-12-03T00:00:01Z' } };
    bucket
      .given([reserved('a1', '2026-12-02T10:00:00Z'), closed])
      .when(reserve([{ activityId: 'a2' }], '2026-12-02T23:59:59Z'))
      .then([]);
    bucket
      .given([reserved('a1', '2026-12-02T10:00:00Z'), closed])
      .when({ type: 'Refund', ...key, activityId: 'a1', now: '2026-12-03T01:00:00Z' })
      .then([{ type: 'QuotaRefunded', data: { ...key, activityId: 'a1', at: '2026-12-03T01:00:00Z' } }]);
    bucket
      .given([closed])
      .when({ type: 'Close', ...key, now: '2026-12-03T00:00:02Z' })
      .then([]);
    bucket
      .given([])
      .when({ type: 'Close', ...key, now: '2026-12-03T00:00:02Z' })
      .then([closed].map((e) => ({ ...e, data: { ...e.data, at: '2026-12-03T00:00:02Z' } })));
  });

  it('a rolling 7-day limit counts the prior days: full, nothing is reserved', () => {
    const prior = ['2026-11-26', '2026-11-28', '2026-11-30'].map((d, i) => ({ at: new Date(`${d}T10:00:00Z`), recipient: `r${i}` }));
    bucket
      .given([])
      .when(
        reserve([{ activityId: 'a1', recipient: 'x' }], '2026-12-02T09:00:00Z', { limits: [{ max: 3, per: '7d', unit: 'sends' }], prior }),
      )
      .then([]);
    bucket
      .given([])
      .when(
        reserve([{ activityId: 'a1', recipient: 'x' }], '2026-12-02T09:00:00Z', { limits: [{ max: 4, per: '7d', unit: 'sends' }], prior }),
      )
      .then([{ type: 'QuotaReserved', data: { ...key, activityId: 'a1', cap: 100, at: '2026-12-02T09:00:00Z', recipient: 'x' } }]);
  });

  it('unique recipients: a repeated recipient is taken at the max, a new one is not', () => {
    const limits = { limits: [{ max: 1, per: '24h', unit: 'recipients' } as QuotaLimit] };
    bucket
      .given([reserved('a1', '2026-12-02T10:00:00Z', 'ann')])
      .when(
        reserve(
          [
            { activityId: 'a2', recipient: 'ann' },
            { activityId: 'a3', recipient: 'bob' },
          ],
          '2026-12-02T11:00:00Z',
          limits,
        ),
      )
      .then([{ type: 'QuotaReserved', data: { ...key, activityId: 'a2', cap: 100, at: '2026-12-02T11:00:00Z', recipient: 'ann' } }]);
  });

  it('a batch decided at once holds a minute throttle across its own requests', () => {
    bucket
      .given([reserved('a0', '2026-12-02T10:00:10Z', 'z')])
      .when(
        reserve(
          [
            { activityId: 'a1', recipient: 'x' },
            { activityId: 'a2', recipient: 'y' },
          ],
          '2026-12-02T10:00:30Z',
          { limits: [{ max: 2, per: 'minute', unit: 'sends' }] },
        ),
      )
      .then([{ type: 'QuotaReserved', data: { ...key, activityId: 'a1', cap: 100, at: '2026-12-02T10:00:30Z', recipient: 'x' } }]);
  });

  it('a refunded unit gives its room back to the limits', () => {
    bucket
      .given([
        reserved('a1', '2026-12-02T10:00:10Z', 'x'),
        { type: 'QuotaRefunded', data: { ...key, activityId: 'a1', at: '2026-12-02T10:00:20Z' } },
      ])
      .when(reserve([{ activityId: 'a2', recipient: 'y' }], '2026-12-02T10:00:30Z', { limits: [{ max: 1, per: 'minute', unit: 'sends' }] }))
      .then([{ type: 'QuotaReserved', data: { ...key, activityId: 'a2', cap: 100, at: '2026-12-02T10:00:30Z', recipient: 'y' } }]);
  });

  it('a lagging clock takes its unit at the latest unit held, not before it (so no window it did not check grows)', () => {
    bucket
      .given([reserved('a1', '2026-12-02T10:00:30Z', 'x')])
      .when(reserve([{ activityId: 'a2', recipient: 'y' }], '2026-12-02T10:00:10Z', { limits: [{ max: 5, per: 'minute', unit: 'sends' }] }))
      .then([{ type: 'QuotaReserved', data: { ...key, activityId: 'a2', cap: 100, at: '2026-12-02T10:00:30.000Z', recipient: 'y' } }]);
  });
});
