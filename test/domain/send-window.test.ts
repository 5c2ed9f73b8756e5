import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SendWindow, type Weekday, inSendWindow, nextOpening, validTimeZone } from '../../src/domain/send-window.js';

const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const WORKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const MINUTE = 60_000;

const window = (tz: string, start: string, end: string, days: Weekday[] = WORKDAYS): SendWindow => ({ days, start, end, tz });
const opening = (at: string, w: SendWindow) => nextOpening(new Date(at), w).toISOString();

// The oracle is written apart from the module (its own formatter, the weekday read from Intl rather than
// computed from the date) so that the property test does not agree with the code by sharing its mistakes.
const oracles = new Map<string, Intl.DateTimeFormat>();
function oracleInside(t: number, w: SendWindow): boolean {
  let f = oracles.get(w.tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: w.tz, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' });
    oracles.set(w.tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const hhmm = `${p.hour}:${p.minute}`;
  return w.days.includes(p.weekday!.toLowerCase() as Weekday) && hhmm >= w.start && hhmm < w.end;
}

describe('validTimeZone', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Etc/GMT+5'])('%s is a time zone', (tz) => {
    expect(validTimeZone(tz)).toBe(true);
  });
  it.each(['', 'Mars/Olympus_Mons', 'Europe/Berlin ', 'CEST+1', 'GMT+25'])('%j is not', (tz) => {
    expect(validTimeZone(tz)).toBe(false);
  });
});

describe('nextOpening', () => {
  // 2026-12-02 is a Wednesday; Berlin is on CET (UTC+1) then.
  const berlin = window('Europe/Berlin', '09:00', '17:00');

  it('is `at` itself inside the window', () => {
    expect(opening('2026-12-02T10:00:00.000Z', berlin)).toBe('2026-12-02T10:00:00.000Z');
    expect(opening('2026-12-02T15:59:59.999Z', berlin)).toBe('2026-12-02T15:59:59.999Z');
  });

  it('opens at start, to the millisecond, on the same day before start', () => {
    expect(opening('2026-12-02T06:00:00.000Z', berlin)).toBe('2026-12-02T08:00:00.000Z');
    expect(opening('2026-12-02T07:59:59.999Z', berlin)).toBe('2026-12-02T08:00:00.000Z');
    expect(opening('2026-12-02T08:00:00.000Z', berlin)).toBe('2026-12-02T08:00:00.000Z');
  });

  it('opens the next day after end (end itself is outside)', () => {
    expect(opening('2026-12-02T16:00:00.000Z', berlin)).toBe('2026-12-03T08:00:00.000Z');
    expect(opening('2026-12-02T22:30:00.000Z', berlin)).toBe('2026-12-03T08:00:00.000Z');
  });

  it('skips the days not listed', () => {
    expect(opening('2026-12-04T16:30:00.000Z', berlin)).toBe('2026-12-07T08:00:00.000Z'); // Friday evening -> Monday
    expect(opening('2026-12-05T10:00:00.000Z', berlin)).toBe('2026-12-07T08:00:00.000Z'); // Saturday, inside hours
    expect(opening('2026-12-02T16:30:00.000Z', window('Europe/Berlin', '09:00', '17:00', ['wed']))).toBe('2026-12-09T08:00:00.000Z');
  });

  it('reads the day and the hour in the window’s zone, not in UTC', () => {
    const ny = window('America/New_York', '09:00', '17:00');
    expect(opening('2026-12-02T13:00:00.000Z', ny)).toBe('2026-12-02T14:00:00.000Z'); // 08:00 EST
    expect(opening('2026-12-03T02:00:00.000Z', ny)).toBe('2026-12-03T14:00:00.000Z'); // Thursday in UTC, Wednesday 21:00 in New York
    expect(opening('2026-12-05T03:00:00.000Z', ny)).toBe('2026-12-07T14:00:00.000Z'); // Saturday in UTC, Friday 22:00 in New York
    const tokyo = window('Asia/Tokyo', '09:00', '17:00');
    expect(opening('2026-12-04T16:00:00.000Z', tokyo)).toBe('2026-12-07T00:00:00.000Z'); // Friday in UTC, Saturday 01:00 in Tokyo
    const kathmandu = window('Asia/Kathmandu', '09:00', '17:00'); // UTC+5:45
    expect(opening('2026-12-02T00:00:00.000Z', kathmandu)).toBe('2026-12-02T03:15:00.000Z');
  });

  it('throws on a window with no days, or start not before end', () => {
    expect(() => nextOpening(new Date('2026-12-02T10:00:00.000Z'), window('UTC', '09:00', '17:00', []))).toThrow(RangeError);
    expect(() => nextOpening(new Date('2026-12-02T10:00:00.000Z'), window('UTC', '17:00', '09:00'))).toThrow(RangeError);
    expect(() => nextOpening(new Date('2026-12-02T10:00:00.000Z'), window('UTC', '09:00', '09:00'))).toThrow(RangeError);
  });

  describe('across DST in Europe/Berlin (2026-03-29 02:00 CET -> 03:00 CEST, 2026-10-25 03:00 CEST -> 02:00 CET)', () => {
    const every = (start: string, end: string) => window('Europe/Berlin', start, end, WEEKDAYS);

    it('spring forward: a start that does not exist that day opens at 03:00 CEST, the first local instant after it', () => {
      expect(opening('2026-03-28T23:00:00.000Z', every('02:30', '17:00'))).toBe('2026-03-29T01:00:00.000Z');
      // and the next day it is 02:30 CEST again
      expect(opening('2026-03-29T15:00:00.000Z', every('02:30', '17:00'))).toBe('2026-03-30T00:30:00.000Z');
    });

    it('spring forward: a 09:00 start opens at 09:00 CEST, an hour earlier in UTC than the day before', () => {
      expect(opening('2026-03-28T09:00:00.000Z', every('09:00', '09:30'))).toBe('2026-03-29T07:00:00.000Z');
    });

    it('spring forward: a window wholly inside the missing hour is not open that day', () => {
      expect(opening('2026-03-28T23:00:00.000Z', every('02:15', '02:45'))).toBe('2026-03-30T00:15:00.000Z');
    });

    it('fall back: a start in the repeated hour opens at its first occurrence (CEST)', () => {
      expect(opening('2026-10-24T22:00:00.000Z', every('02:30', '17:00'))).toBe('2026-10-25T00:30:00.000Z');
    });

    it('fall back: after the first pass of a window in the repeated hour, it opens again on the second pass (CET)', () => {
      expect(opening('2026-10-25T00:50:00.000Z', every('02:30', '02:45'))).toBe('2026-10-25T01:30:00.000Z');
      // the clock is set back to 02:00, before the 02:30 start, so a long window closes for half an hour too
      expect(inSendWindow(new Date('2026-10-25T01:10:00.000Z'), every('02:30', '17:00'))).toBe(false);
      expect(opening('2026-10-25T01:10:00.000Z', every('02:30', '17:00'))).toBe('2026-10-25T01:30:00.000Z');
    });

    it('fall back: a 09:00 start opens at 09:00 CET, an hour later in UTC than the day before', () => {
      expect(opening('2026-10-24T09:00:00.000Z', every('09:00', '09:30'))).toBe('2026-10-25T08:00:00.000Z');
    });
  });

  describe('across DST in America/New_York (2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST)', () => {
    const every = (start: string, end: string) => window('America/New_York', start, end, WEEKDAYS);

    it('spring forward: 02:30 does not exist and opens at 03:00 EDT', () => {
      expect(opening('2026-03-08T05:00:00.000Z', every('02:30', '17:00'))).toBe('2026-03-08T07:00:00.000Z');
    });

    it('spring forward: the working week after the change opens at 09:00 EDT', () => {
      expect(opening('2026-03-06T22:30:00.000Z', window('America/New_York', '09:00', '17:00'))).toBe('2026-03-09T13:00:00.000Z');
    });

    it('fall back: a start in the repeated 01:00 hour opens at its first occurrence (EDT)', () => {
      expect(opening('2026-11-01T04:00:00.000Z', every('01:30', '17:00'))).toBe('2026-11-01T05:30:00.000Z');
    });

    it('fall back: between the two passes it opens on the second (EST)', () => {
      expect(opening('2026-11-01T05:50:00.000Z', every('01:30', '01:45'))).toBe('2026-11-01T06:30:00.000Z');
    });

    it('fall back: the working week after the change opens at 09:00 EST', () => {
      expect(opening('2026-10-30T21:30:00.000Z', window('America/New_York', '09:00', '17:00'))).toBe('2026-11-02T14:00:00.000Z');
    });
  });

  describe('properties', () => {
    const ZONES = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Asia/Kathmandu', // +5:45
      'Australia/Lord_Howe', // a 30-minute DST shift
      'America/Santiago', // changes at midnight
      'America/Havana', // changes at midnight
      'America/St_Johns', // -3:30 / -2:30
      'Pacific/Chatham', // +12:45 / +13:45
      'Asia/Tokyo',
    ];
    // Random instants alone would rarely come near a DST change; half of them are drawn around one.
    const CHANGES = [
      '2026-03-29T01:00:00Z',
      '2026-10-25T01:00:00Z',
      '2026-03-08T07:00:00Z',
      '2026-11-01T06:00:00Z',
      '2026-04-04T15:00:00Z',
      '2026-10-03T15:30:00Z',
      '2026-04-05T03:00:00Z',
      '2026-09-06T04:00:00Z',
      '2026-03-08T05:00:00Z',
      '2026-11-01T05:00:00Z',
    ].map(Date.parse);
    const HOUR = 60 * MINUTE;
    const instant = fc.oneof(
      fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2028-12-31T00:00:00Z') }),
      fc.tuple(fc.constantFrom(...CHANGES), fc.integer({ min: -36 * HOUR, max: 36 * HOUR })).map(([c, d]) => c + d),
    );
    const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    const sendWindow = fc
      .record({
        days: fc.subarray(WEEKDAYS, { minLength: 1 }),
        start: fc.integer({ min: 0, max: 23 * 60 + 58 }),
        length: fc.integer({ min: 1, max: 24 * 60 }),
        tz: fc.constantFrom(...ZONES),
      })
      .map(({ days, start, length, tz }) => window(tz, hhmm(start), hhmm(Math.min(start + length, 23 * 60 + 59)), days));

    it('the result is not before `at`, is inside the window, and no instant between them is', () => {
      fc.assert(
        fc.property(instant, sendWindow, (t, w) => {
          const result = nextOpening(new Date(t), w).getTime();
          expect(result).toBeGreaterThanOrEqual(t);
          expect(oracleInside(result, w)).toBe(true);
          expect(inSendWindow(new Date(result), w)).toBe(true);
          // Offsets are whole minutes, so whether an instant is inside changes only on a minute: `at` and every
          // minute after it up to the result cover every instant in [at, result).
          if (result > t) expect(oracleInside(t, w)).toBe(false);
          for (let m = Math.floor(t / MINUTE + 1) * MINUTE; m < result; m += MINUTE) {
            if (oracleInside(m, w))
              expect.fail(`${new Date(m).toISOString()} is inside ${JSON.stringify(w)}, before ${new Date(result).toISOString()}`);
          }
        }),
        { numRuns: 300 },
      );
    });

    it('an instant inside the window is its own opening', () => {
      fc.assert(
        fc.property(instant, sendWindow, (t, w) => {
          if (oracleInside(t, w)) expect(nextOpening(new Date(t), w).getTime()).toBe(t);
          else expect(nextOpening(new Date(t), w).getTime()).toBeGreaterThan(t);
        }),
        { numRuns: 300 },
      );
    });
  });
});
