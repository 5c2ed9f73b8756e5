/** `HH:MM`, 00:00 to 23:59. */
export const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

function parts(at: Date, tz: string): Record<string, string> {
  return Object.fromEntries(
    formatter(tz)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
}

/** Minutes since local midnight in `tz`: the wall clock, so DST changes are what the clock on the wall says. */
export function localMinuteOfDay(at: Date, tz: string): number {
  const p = parts(at, tz);
  return Number(p.hour) * 60 + Number(p.minute);
}

/** The local calendar day in `tz`, `YYYY-MM-DD` (the quota day). */
export function localDay(at: Date, tz: string): string {
  const p = parts(at, tz);
  return `${p.year}-${p.month}-${p.day}`;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Is `at` inside [start, end) local time in `tz`? start > end is a window across midnight. */
export function inTimeWindow(at: Date, window: { start: string; end: string; tz: string }): boolean {
  const m = localMinuteOfDay(at, window.tz);
  const s = minutes(window.start);
  const e = minutes(window.end);
  return s < e ? m >= s && m < e : m >= s || m < e;
}
