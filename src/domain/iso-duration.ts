const MS = { W: 7 * 86_400_000, D: 86_400_000, H: 3_600_000, M: 60_000, S: 1_000 } as const;

/** The longest duration accepted: a step delay beyond a year is a mistake more often than a plan. */
const MAX_MS = 366 * MS.D;

// Weeks stand alone (ISO 8601's `PnW` form); days and the time part combine. Years and months are left out
// on purpose: they have no fixed length in milliseconds. `\d` only, so signs, fractions and spaces fail.
const WEEKS = /^P(\d+)W$/;
const DAYS_TIME = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/**
 * Milliseconds of an ISO-8601 duration: `PnW`, or `PnDTnHnMnS` with any of its components (integers only).
 * Null for anything else, including years/months, a bare `P` or `PT`, and more than 366 days in total.
 */
export function parseIsoDuration(text: string): number | null {
  let ms: number;
  const weeks = WEEKS.exec(text);
  if (weeks) {
    ms = Number(weeks[1]) * MS.W;
  } else {
    const m = DAYS_TIME.exec(text);
    if (!m) return null;
    const [, d, h, min, s] = m;
    // The regex lets every component be absent; `P` and `PT` name no duration at all.
    if (d === undefined && h === undefined && min === undefined && s === undefined) return null;
    if (text.includes('T') && h === undefined && min === undefined && s === undefined) return null;
    ms = Number(d ?? 0) * MS.D + Number(h ?? 0) * MS.H + Number(min ?? 0) * MS.M + Number(s ?? 0) * MS.S;
  }
  return ms <= MAX_MS ? ms : null;
}
