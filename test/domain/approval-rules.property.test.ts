import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ApprovalRule, evaluateRules, orderedRules, ruleMatches } from '../../src/domain/approval-rules.js';
import { inTimeWindow, localMinuteOfDay } from '../../src/domain/time-window.js';

const hhmm = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
const minutes = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
const TZS = ['Europe/Paris', 'America/New_York', 'UTC', 'Asia/Kolkata'] as const;
// Instants across 2026, DST days included (Paris: Mar 29 / Oct 25; New York: Mar 8 / Nov 1).
const instant = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 31) }).map((ms) => new Date(ms));
const dstInstant = fc
  .constantFrom(Date.UTC(2026, 2, 29, 0), Date.UTC(2026, 9, 25, 0), Date.UTC(2026, 2, 8, 5), Date.UTC(2026, 10, 1, 4))
  .chain((base) => fc.integer({ min: 0, max: 5 * 3600_000 }).map((d) => new Date(base + d)));

describe('time windows (properties)', () => {
  it('a window holds exactly the local wall-clock minutes in [start, end), across midnight and DST', () => {
    fc.assert(
      fc.property(fc.oneof(instant, dstInstant), hhmm, hhmm, fc.constantFrom(...TZS), (at, start, end, tz) => {
        fc.pre(start !== end);
        const m = localMinuteOfDay(at, tz);
        const s = minutes(start);
        const e = minutes(end);
        const expected = s < e ? m >= s && m < e : m >= s || m < e;
        expect(inTimeWindow(at, { start, end, tz })).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('a window and its complement cover every instant exactly once', () => {
    fc.assert(
      fc.property(fc.oneof(instant, dstInstant), hhmm, hhmm, fc.constantFrom(...TZS), (at, start, end, tz) => {
        fc.pre(start !== end);
        expect(inTimeWindow(at, { start, end, tz }) !== inTimeWindow(at, { start: end, end: start, tz })).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('knows the DST wall clock: 02:30 does not exist in Paris on 2026-03-29, 01:30 happens twice in New York on 2026-11-01', () => {
    const window = { start: '02:00', end: '03:00', tz: 'Europe/Paris' };
    // 00:59 UTC is 01:59 CET; 01:00 UTC is 03:00 CEST: the window is skipped that night.
    expect(inTimeWindow(new Date(Date.UTC(2026, 2, 29, 0, 59)), window)).toBe(false);
    expect(inTimeWindow(new Date(Date.UTC(2026, 2, 29, 1, 0)), window)).toBe(false);
    const ny = { start: '01:00', end: '02:00', tz: 'America/New_York' };
    expect(inTimeWindow(new Date(Date.UTC(2026, 10, 1, 5, 30)), ny)).toBe(true); // 01:30 EDT
    expect(inTimeWindow(new Date(Date.UTC(2026, 10, 1, 6, 30)), ny)).toBe(true); // 01:30 EST
    expect(inTimeWindow(new Date(Date.UTC(2026, 10, 1, 7, 30)), ny)).toBe(false); // 02:30 EST
  });
});

const channel = fc.constantFrom('email', 'linkedin', 'whatsapp', 'dry-run' as const);
const tags = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 4 });
const niche = fc.option(fc.constantFrom('solar', 'renovation'), { nil: undefined });
const predicate = fc.record(
  { channel: fc.option(channel, { nil: undefined }), niche, tags: fc.option(tags, { nil: undefined }) },
  { requiredKeys: [] },
);
const rule = fc.record({
  ruleId: fc.uuid(),
  predicate,
  action: fc.constantFrom('auto_approve', 'queue_for_manual' as const),
  priority: fc.integer({ min: -5, max: 5 }),
  seq: fc.integer({ min: 1, max: 1000 }),
  createdAt: fc.constant('2026-01-01T00:00:00Z'),
}) as fc.Arbitrary<ApprovalRule>;
const send = fc.record({ channel, niche: fc.option(fc.constantFrom('solar', 'renovation'), { nil: null }), tags, at: instant });

describe('rule matching (properties)', () => {
  it('an empty predicate matches everything; every given field must match', () => {
    fc.assert(
      fc.property(predicate, send, (p, s) => {
        const expected =
          (p.channel === undefined || p.channel === s.channel) &&
          (p.niche === undefined || p.niche === s.niche) &&
          (p.tags === undefined || p.tags.every((t) => s.tags.includes(t)));
        expect(ruleMatches(p, s)).toBe(expected);
        expect(ruleMatches({}, s)).toBe(true);
      }),
    );
  });

  it('the first matching rule in (priority, seq) order decides; no match queues for a human', () => {
    fc.assert(
      fc.property(fc.uniqueArray(rule, { selector: (r) => r.seq, maxLength: 8 }), send, (rules, s) => {
        const { rule: chosen, action } = evaluateRules(rules, s);
        const ordered = orderedRules(rules);
        const firstMatch = ordered.find((r) => ruleMatches(r.predicate, s)) ?? null;
        expect(chosen).toBe(firstMatch);
        expect(action).toBe(firstMatch ? firstMatch.action : 'queue_for_manual');
        for (let i = 1; i < ordered.length; i++) {
          const [a, b] = [ordered[i - 1]!, ordered[i]!];
          expect(a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq)).toBe(true);
        }
        // The order of the input does not matter.
        expect(evaluateRules([...rules].reverse(), s).rule).toBe(firstMatch);
      }),
    );
  });
});
