import type { OutboxChannel } from './channels.js';
import { localDay, localMinuteOfDay } from './time-window.js';

/**
 * Quota limits as the channels enforce them (issue 18): a count of sends, or of distinct recipients, in a
 * calendar period of the outbox's time zone (`minute`, `hour`, `day`, `week`: ISO weeks, from Monday) or in a
 * rolling window ending now (`24h`, `7d`). Pure: the units and `now` come in.
 */
export const LIMIT_PERIODS = ['minute', 'hour', 'day', 'week', '24h', '7d'] as const;
export type LimitPeriod = (typeof LIMIT_PERIODS)[number];
export const LIMIT_UNITS = ['sends', 'recipients'] as const;
export type LimitUnit = (typeof LIMIT_UNITS)[number];
export const MAX_LIMITS = 10;

export interface QuotaLimit {
  max: number;
  per: LimitPeriod;
  unit: LimitUnit;
}

/** A unit held against a credential: when it was reserved, and for whom (canonical recipient). */
export interface HeldUnit {
  at: Date;
  recipient: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROLLING: Partial<Record<LimitPeriod, number>> = { '24h': DAY, '7d': 7 * DAY };

/**
 * Limits that hold without configuration, from the providers' own documentation: LinkedIn about 100 connection
 * invitations per rolling week per account; WhatsApp Cloud API's first messaging tier, 250 unique recipients in a
 * rolling 24 hours per business portfolio. Other channels rely on the daily cap alone.
 */
export const DEFAULT_LIMITS: Record<OutboxChannel, QuotaLimit[]> = {
  email: [],
  'cal-com': [],
  linkedin: [{ max: 100, per: '7d', unit: 'sends' }],
  whatsapp: [{ max: 250, per: '24h', unit: 'recipients' }],
  instagram: [],
};

const kindOf = (l: Pick<QuotaLimit, 'per' | 'unit'>) => `${l.per}/${l.unit}`;

/**
 * An outbox's limits as they apply: its own, and each of its channel's defaults whose kind (period and unit) it
 * does not state (stating one replaces it, e.g. 200 invitations a week on a LinkedIn premium account).
 */
export function effectiveLimits(channel: OutboxChannel, own: readonly QuotaLimit[] = []): QuotaLimit[] {
  const stated = new Set(own.map(kindOf));
  return [...own, ...DEFAULT_LIMITS[channel].filter((l) => !stated.has(kindOf(l)))];
}

/**
 * The limits a credential's sends are held to: each outbox's own (its `dailyCap` being `{max, per: day}`), and of
 * each kind (period and unit) the smallest `max` among the outboxes that share the credential.
 */
export function sharedLimits(outboxes: readonly { dailyCap: number; limits?: readonly QuotaLimit[] }[]): QuotaLimit[] {
  return tightest(...outboxes.map((o) => [{ max: o.dailyCap, per: 'day', unit: 'sends' } as QuotaLimit, ...(o.limits ?? [])]));
}

/** Of each kind of limit in the lists, the one with the smallest max (first seen order). */
export function tightest(...lists: readonly (readonly QuotaLimit[])[]): QuotaLimit[] {
  const smallest = new Map<string, QuotaLimit>();
  for (const l of lists.flat()) {
    const seen = smallest.get(kindOf(l));
    if (!seen || l.max < seen.max) smallest.set(kindOf(l), { max: l.max, per: l.per, unit: l.unit });
  }
  return [...smallest.values()];
}

/** What is wrong with a list of limits as given (null: nothing). */
export function limitsProblem(limits: readonly QuotaLimit[]): string | null {
  if (limits.length > MAX_LIMITS) return `at most ${MAX_LIMITS} limits`;
  const kinds = new Set<string>();
  for (const l of limits) {
    if (kinds.has(kindOf(l))) return `two limits per ${l.per} in ${l.unit}: keep the smaller`;
    kinds.add(kindOf(l));
  }
  return null;
}

/** The calendar period of `at` in `tz`, as a key: two instants are in the same period when their keys are equal. */
export function periodKey(per: Exclude<LimitPeriod, '24h' | '7d'>, at: Date, tz: string): string {
  const day = localDay(at, tz);
  if (per === 'day') return day;
  if (per === 'week') return isoWeekStart(day);
  const m = localMinuteOfDay(at, tz);
  // The date too: a fall-back hour repeats the wall clock, and counting both as one period is the cautious side.
  return per === 'hour' ? `${day}T${Math.floor(m / 60)}` : `${day}T${m}`;
}

/** The Monday that starts the ISO week of a local date `YYYY-MM-DD`. */
function isoWeekStart(ymd: string): string {
  const t = Date.UTC(Number(ymd.slice(0, 4)), Number(ymd.slice(5, 7)) - 1, Number(ymd.slice(8, 10)));
  const monday = t - ((new Date(t).getUTCDay() + 6) % 7) * DAY;
  return new Date(monday).toISOString().slice(0, 10);
}

/** The instants (from, to] a limit counts at `now`: a rolling window ending now, or the calendar period holding now. */
function windowOf(per: LimitPeriod, now: Date, tz: string): { from: number; to: number } {
  const rolling = ROLLING[per];
  if (rolling !== undefined) return { from: now.getTime() - rolling, to: now.getTime() };
  const p = per as Exclude<LimitPeriod, '24h' | '7d'>;
  // A period is one run of instants with the same key; its units are those from its first minute up to now.
  return { from: periodStart(p, now, tz).getTime() - 1, to: now.getTime() };
}

/** The window a limit counts at `now`, for people: from `start` (rolling: after it) up to now. */
export function limitWindow(per: LimitPeriod, now: Date, tz: string): { start: Date; end: Date } {
  const w = windowOf(per, now, tz);
  return { start: new Date(ROLLING[per] !== undefined ? w.from : w.from + 1), end: now };
}

const inWindow = (w: { from: number; to: number }, u: HeldUnit) => u.at.getTime() > w.from && u.at.getTime() <= w.to;

/** The units that count against `limit` at `now`: in its calendar period, or in the rolling window (now - d, now]. */
export function unitsInWindow(limit: Pick<QuotaLimit, 'per'>, units: readonly HeldUnit[], now: Date, tz: string): HeldUnit[] {
  const w = windowOf(limit.per, now, tz);
  return units.filter((u) => inWindow(w, u));
}

/**
 * The limits' windows at one instant, counted once, then kept as units are added at that instant: what a batch
 * of reservations decides on, each request costing one look per limit instead of a pass over every unit.
 */
export class LimitWindows {
  private readonly counts: { limit: QuotaLimit; sends: number; recipients: Set<string> }[];
  constructor(
    limits: readonly QuotaLimit[],
    units: readonly HeldUnit[],
    readonly now: Date,
    tz: string,
  ) {
    this.counts = limits.map((limit) => {
      const w = windowOf(limit.per, now, tz);
      const held = units.filter((u) => inWindow(w, u));
      return { limit, sends: held.length, recipients: new Set(limit.unit === 'recipients' ? held.map((u) => u.recipient) : []) };
    });
  }
  /** The first limit (in order) that one more send to `recipient` now would exceed, or null. */
  refusing(recipient: string): QuotaLimit | null {
    for (const c of this.counts) {
      if (c.limit.unit === 'recipients' ? !c.recipients.has(recipient) && c.recipients.size >= c.limit.max : c.sends >= c.limit.max)
        return c.limit;
    }
    return null;
  }
  /** A unit taken now for `recipient`: in every window (each ends now). */
  add(recipient: string): void {
    for (const c of this.counts) {
      c.sends++;
      if (c.limit.unit === 'recipients') c.recipients.add(recipient);
    }
  }
}

/** How much of `limit` is used at `now`: units, or distinct recipients. */
export function usage(limit: QuotaLimit, units: readonly HeldUnit[], now: Date, tz: string): number {
  const inWindow = unitsInWindow(limit, units, now, tz);
  return limit.unit === 'sends' ? inWindow.length : new Set(inWindow.map((u) => u.recipient)).size;
}

export interface LimitRefusal {
  limit: QuotaLimit;
  /** The first instant at which this limit would take the send (others may still refuse it then). */
  retryAt: Date;
}

/**
 * Whether one more send to `recipient` at `now` fits every limit: null when it does, else the first limit (in the
 * order given) that refuses it and when that limit reopens. A recipient already counted in a `recipients` window
 * takes nothing more of it.
 */
export function checkLimits(
  limits: readonly QuotaLimit[],
  units: readonly HeldUnit[],
  send: { recipient: string; now: Date },
  tz: string,
): LimitRefusal | null {
  for (const limit of limits) {
    const inWindow = unitsInWindow(limit, units, send.now, tz);
    if (limit.unit === 'recipients') {
      const recipients = new Set(inWindow.map((u) => u.recipient));
      if (recipients.has(send.recipient) || recipients.size < limit.max) continue;
    } else if (inWindow.length < limit.max) continue;
    return { limit, retryAt: reopensAt(limit, inWindow, send.now, tz) };
  }
  return null;
}

/** When a full limit takes one more: the next period, or when enough of the oldest units leave the rolling window. */
function reopensAt(limit: QuotaLimit, inWindow: readonly HeldUnit[], now: Date, tz: string): Date {
  const rolling = ROLLING[limit.per];
  if (rolling === undefined) return nextPeriodStart(limit.per as Exclude<LimitPeriod, '24h' | '7d'>, now, tz);
  // Per unit (or per recipient, its latest unit): the instants they leave the window, soonest first.
  const leaving =
    limit.unit === 'sends'
      ? inWindow.map((u) => u.at.getTime())
      : [
          ...inWindow
            .reduce((m, u) => m.set(u.recipient, Math.max(m.get(u.recipient) ?? 0, u.at.getTime())), new Map<string, number>())
            .values(),
        ];
  leaving.sort((a, b) => a - b);
  const mustLeave = leaving.length - limit.max + 1;
  return new Date(leaving[Math.max(0, mustLeave - 1)]! + rolling);
}

/** The first minute of the calendar period holding `now` (the mirror of `nextPeriodStart`). */
export function periodStart(per: Exclude<LimitPeriod, '24h' | '7d'>, now: Date, tz: string): Date {
  const key = periodKey(per, now, tz);
  const step = per === 'minute' ? MINUTE : per === 'hour' ? 15 * MINUTE : per === 'day' ? HOUR : 6 * HOUR;
  let hi = Math.floor(now.getTime() / MINUTE) * MINUTE;
  let lo = hi - step;
  while (periodKey(per, new Date(lo), tz) === key) {
    hi = lo;
    lo -= step;
  }
  // hi is in the period, lo is not: the start is the first minute after lo that is in it.
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (periodKey(per, new Date(mid), tz) === key) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** The first minute after `now` in another calendar period (zone offsets are whole minutes, so minutes suffice). */
export function nextPeriodStart(per: Exclude<LimitPeriod, '24h' | '7d'>, now: Date, tz: string): Date {
  const key = periodKey(per, now, tz);
  const step = per === 'minute' ? MINUTE : per === 'hour' ? 15 * MINUTE : per === 'day' ? HOUR : 6 * HOUR;
  let lo = Math.floor(now.getTime() / MINUTE) * MINUTE;
  let hi = lo + step;
  while (periodKey(per, new Date(hi), tz) === key) {
    lo = hi;
    hi += step;
  }
  // lo is in the period, hi is not: the boundary is the first minute after lo that is not.
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (periodKey(per, new Date(mid), tz) === key) lo = mid;
    else hi = mid;
  }
  return new Date(hi);
}
