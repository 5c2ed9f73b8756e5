import { HH_MM, isTimeZone, localDay, localMinuteOfDay } from './time-window.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** Sending hours: on the listed weekdays in `tz`, local time in [start, end) (`HH:MM`, start < end, same day). */
export interface SendWindow {
  days: Weekday[];
  start: string;
  end: string;
  tz: string;
}

/** Indexed by `Date.prototype.getUTCDay()`. */
const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function validTimeZone(tz: string): boolean {
  return isTimeZone(tz);
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** `YYYY-MM-DD` as the UTC midnight of that date: a local calendar date as a plain number to do sums on. */
const dateValue = (ymd: string) => Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(5, 7)) - 1, Number(ymd.slice(8, 10)));

/**
 * The local wall clock at `t` read as if it were UTC, to the minute. Offsets of every zone in use today are whole
 * minutes, so `wall(t) - t` (t on a minute) is the zone's exact UTC offset at `t`.
 */
const wall = (t: number, tz: string) => dateValue(localDay(new Date(t), tz)) + localMinuteOfDay(new Date(t), tz) * MINUTE;
const offset = (t: number, tz: string) => {
  const m = Math.floor(t / MINUTE) * MINUTE;
  return wall(m, tz) - m;
};

/** Is `at` inside the window: a listed weekday in `tz`, and local time in [start, end)? */
export function inSendWindow(at: Date, window: SendWindow): boolean {
  const weekday = WEEKDAYS[new Date(dateValue(localDay(at, window.tz))).getUTCDay()]!;
  if (!window.days.includes(weekday)) return false;
  const m = localMinuteOfDay(at, window.tz);
  return m >= minutes(window.start) && m < minutes(window.end);
}

function assertWindow(window: SendWindow): void {
  if (window.days.length === 0) throw new RangeError('send window: no days listed');
  if (!HH_MM.test(window.start) || !HH_MM.test(window.end) || window.start >= window.end) {
    throw new RangeError(`send window: start ${window.start} must be before end ${window.end} (HH:MM)`);
  }
  if (!validTimeZone(window.tz)) throw new RangeError(`send window: unknown time zone ${window.tz}`);
}

/** The first minute in (lo, hi] whose offset differs from `lo`'s; the caller knows `hi`'s does. */
function transition(lo: number, hi: number, tz: string): number {
  const before = offset(lo, tz);
  let a = Math.floor(lo / MINUTE);
  let b = Math.floor(hi / MINUTE);
  while (b - a > 1) {
    const mid = Math.floor((a + b) / 2);
    if (offset(mid * MINUTE, tz) === before) a = mid;
    else b = mid;
  }
  return b * MINUTE;
}

/**
 * The instants of local date `date` (a `dateValue`) whose wall clock is in [start, end), as UTC intervals
 * [from, to). One interval on an ordinary day; around a DST change the wall clock maps to UTC with one offset
 * before the change and another after, so the window is cut into (at most) the part before and the part after:
 * a start inside a spring-forward gap opens at the change itself (the first local instant after it), and a
 * window over a fall-back hour is open during both passes of the repeated wall-clock times.
 */
function openIntervals(date: number, startMin: number, endMin: number, tz: string): Array<[number, number]> {
  const ws = date + startMin * MINUTE;
  const we = date + endMin * MINUTE;
  // UTC offsets lie within -12h..+14h, so every instant showing a wall time in [ws, we) lies within [lo, hi].
  const lo = ws - 15 * HOUR;
  const hi = we + 13 * HOUR;
  const oLo = offset(lo, tz);
  const oHi = offset(hi, tz);
  if (oLo === oHi) return [[ws - oLo, we - oLo]];
  const change = transition(lo, hi, tz);
  const parts: Array<[number, number]> = [
    [ws - oLo, Math.min(we - oLo, change)],
    [Math.max(ws - oHi, change), we - oHi],
  ];
  return parts.filter(([from, to]) => from < to);
}

/**
 * `at` if it is inside the window, else the first instant after `at` at which the window opens: normally the
 * next listed day's `start`, local time in `tz`. Throws on an invalid window (no days, start not before end).
 */
export function nextOpening(at: Date, window: SendWindow): Date {
  assertWindow(window);
  const t = at.getTime();
  if (inSendWindow(at, window)) return at;
  const startMin = minutes(window.start);
  const endMin = minutes(window.end);
  const today = dateValue(localDay(at, window.tz));
  // From the day before (a fall-back across midnight can show yesterday's date again) to two weeks on: one week
  // finds the next listed day, the second covers a listed day whose whole window falls in a DST gap.
  let best: number | null = null;
  for (let k = -1; k <= 15; k++) {
    const date = today + k * DAY;
    // No later date can open earlier than its start at the largest offset there is.
    if (best !== null && date + startMin * MINUTE - 15 * HOUR > best) break;
    if (!window.days.includes(WEEKDAYS[new Date(date).getUTCDay()]!)) continue;
    for (const [from, to] of openIntervals(date, startMin, endMin, window.tz)) {
      if (to <= t) continue;
      const opens = Math.max(from, t);
      if (best === null || opens < best) best = opens;
    }
  }
  if (best !== null) return new Date(best);
  throw new RangeError(`send window: no opening within two weeks of ${at.toISOString()}`);
}
