import type { Decider, DomainEvent } from './decider.js';
import { type HeldUnit, LimitWindows, type QuotaLimit } from './quota-limits.js';

/**
 * The dispatcher's quota: one stream per company, credential and local day. Reserving is an append with the
 * exact expected revision, so the cap holds whatever the number of processes.
 */
export const bucketStream = (companyId: string, credentialId: string, day: string) => `crm_bucket-${companyId}.${credentialId}.${day}`;

export type QuotaBucketEvent =
  | DomainEvent<
      'QuotaReserved',
      // `recipient` (canonical) from issue 18 on: a unit without one counts as a recipient of its own.
      { companyId: string; credentialId: string; day: string; activityId: string; cap: number; at: string; recipient?: string }
    >
  | DomainEvent<'QuotaRefunded', { companyId: string; credentialId: string; day: string; activityId: string; at: string }>
  // No reservation after it: the day's units are final (refunds aside), so later days may count them.
  | DomainEvent<'QuotaDayClosed', { companyId: string; credentialId: string; day: string; at: string }>;

export interface QuotaBucketState {
  /** Activities holding a unit (reserved and not refunded). */
  holders: Set<string>;
  /** Every activity that ever reserved here (a refund is final: no second reservation for it). */
  reserved: Set<string>;
  /** The held units, when and for whom: what limits other than the day's count. */
  units: Map<string, HeldUnit>;
  closed: boolean;
}

export interface ReserveRequest {
  activityId: string;
  cap: number;
  /** Canonical; a `recipients` limit counts distinct ones. Absent: the activity counts as its own recipient. */
  recipient?: string;
}

/**
 * Limits beyond the day's cap (src/domain/quota-limits.ts), checked against this day's units and `prior`: the
 * units of the credential's earlier days that the widest limit reaches, read from closed days (final).
 */
export interface ReserveLimits {
  limits: readonly QuotaLimit[];
  prior: readonly HeldUnit[];
  tz: string;
}

export type QuotaBucketCommand =
  | {
      type: 'Reserve';
      companyId: string;
      credentialId: string;
      day: string;
      requests: ReserveRequest[];
      now: string;
      limits?: ReserveLimits;
    }
  | { type: 'Refund'; companyId: string; credentialId: string; day: string; activityId: string; now: string }
  | { type: 'Close'; companyId: string; credentialId: string; day: string; now: string };

export function usedUnits(state: QuotaBucketState): number {
  return state.holders.size;
}

/** Applies events to a state in place: for an owner that keeps one private state (the quota reserver's cache). */
export function foldBucketInto(state: QuotaBucketState, events: readonly QuotaBucketEvent[]): QuotaBucketState {
  for (const event of events) {
    if (event.type === 'QuotaReserved') {
      state.holders.add(event.data.activityId);
      state.reserved.add(event.data.activityId);
      state.units.set(event.data.activityId, heldUnit(event.data));
    } else if (event.type === 'QuotaRefunded') {
      state.holders.delete(event.data.activityId);
      state.units.delete(event.data.activityId);
    } else {
      state.closed = true;
    }
  }
  return state;
}

const heldUnit = (d: { activityId: string; at: string; recipient?: string }): HeldUnit => ({
  at: new Date(d.at),
  recipient: d.recipient ?? `activity:${d.activityId}`,
});

/**
 * Folds several events with one copy of the sets: a hot bucket holds thousands of units, and copying them per
 * event made each batch of reservations quadratic.
 */
export function evolveBucket(state: QuotaBucketState, events: readonly QuotaBucketEvent[]): QuotaBucketState {
  if (events.length === 0) return state;
  return foldBucketInto(
    { holders: new Set(state.holders), reserved: new Set(state.reserved), units: new Map(state.units), closed: state.closed },
    events,
  );
}

/** A state with the changes of the commands decided so far on top, without copying its sets. */
class BucketOverlay {
  private readonly added = new Set<string>();
  private readonly removed = new Set<string>();
  private readonly addedUnits = new Map<string, HeldUnit>();
  used: number;
  closed: boolean;
  constructor(private readonly base: QuotaBucketState) {
    this.used = base.holders.size;
    this.closed = base.closed;
  }
  /** The units held now, base and decided so far (built only when a limit asks). */
  heldUnits(): HeldUnit[] {
    const out: HeldUnit[] = [];
    for (const [id, u] of this.base.units) if (!this.removed.has(id)) out.push(u);
    for (const [id, u] of this.addedUnits) if (!this.removed.has(id)) out.push(u);
    return out;
  }
  holds(id: string): boolean {
    return (this.added.has(id) || this.base.holders.has(id)) && !this.removed.has(id);
  }
  everReserved(id: string): boolean {
    return this.added.has(id) || this.base.reserved.has(id);
  }
  record(event: QuotaBucketEvent): QuotaBucketEvent {
    if (event.type === 'QuotaDayClosed') {
      this.closed = true;
    } else if (event.type === 'QuotaReserved') {
      this.added.add(event.data.activityId);
      this.addedUnits.set(event.data.activityId, heldUnit(event.data));
      this.used++;
    } else {
      // Still in `added`: a refund is final, the activity stays "ever reserved".
      this.removed.add(event.data.activityId);
      this.used--;
    }
    return event;
  }
}

/** A batch of reservations (group commit): each gets a unit while the cap allows, in order. */
function decideOn(command: QuotaBucketCommand, view: BucketOverlay): QuotaBucketEvent[] {
  const { companyId, credentialId, day } = command;
  if (command.type === 'Close') {
    return view.closed ? [] : [view.record({ type: 'QuotaDayClosed', data: { companyId, credentialId, day, at: command.now } })];
  }
  if (command.type === 'Refund') {
    if (!view.holds(command.activityId)) return [];
    return [
      view.record({ type: 'QuotaRefunded', data: { companyId, credentialId, day, activityId: command.activityId, at: command.now } }),
    ];
  }
  // A closed day takes no more: the caller reserves on the next one.
  if (view.closed) return [];
  const events: QuotaBucketEvent[] = [];
  // Counted once per command and kept with its own reservations, not recounted for each request of a batch.
  let windows: LimitWindows | null = null;
  if (command.limits) {
    const units = [...command.limits.prior, ...view.heldUnits()];
    windows = new LimitWindows(command.limits.limits, units, limitClock(command.now, units), command.limits.tz);
  }
  const at = windows && windows.now.getTime() !== Date.parse(command.now) ? windows.now.toISOString() : command.now;
  for (const r of command.requests) {
    if (view.everReserved(r.activityId) || view.used >= r.cap) continue;
    const recipient = r.recipient ?? `activity:${r.activityId}`;
    if (windows?.refusing(recipient)) continue;
    const data = { companyId, credentialId, day, activityId: r.activityId, cap: r.cap, at };
    events.push(view.record({ type: 'QuotaReserved', data: r.recipient === undefined ? data : { ...data, recipient: r.recipient } }));
    windows?.add(recipient);
  }
  return events;
}

/**
 * The instant a unit under limits is taken at: the command's clock, or the latest unit already held when that is
 * later. A process whose clock lags would otherwise put a unit before others, into windows it never checked (a
 * full window ending at the later unit's time would then hold one more); units under limits go in time order.
 */
export function limitClock(now: string, units: readonly HeldUnit[]): Date {
  let t = Date.parse(now);
  for (const u of units) if (u.at.getTime() > t) t = u.at.getTime();
  return new Date(t);
}

/** Decides commands in order, each on the state the ones before it produced: one list of events per command. */
export function decideBucketBatch(commands: readonly QuotaBucketCommand[], state: QuotaBucketState): QuotaBucketEvent[][] {
  const view = new BucketOverlay(state);
  return commands.map((c) => decideOn(c, view));
}

export const quotaBucketDecider: Decider<QuotaBucketCommand, QuotaBucketState, QuotaBucketEvent> = {
  initialState: () => ({ holders: new Set(), reserved: new Set(), units: new Map(), closed: false }),
  evolve: (state, event) => evolveBucket(state, [event]),
  decide: (command, state) => decideOn(command, new BucketOverlay(state)),
};

/**
 * A batch of commands taken as one (group commit): decided together on one overlay, folded with one copy of the
 * sets, so that a batch costs the same however full the bucket is.
 */
export const quotaBatchDecider: Decider<{ batch: readonly QuotaBucketCommand[] }, QuotaBucketState, QuotaBucketEvent> = {
  initialState: quotaBucketDecider.initialState,
  evolve: quotaBucketDecider.evolve,
  evolveMany: evolveBucket,
  decide: ({ batch }, state) => decideBucketBatch(batch, state).flat(),
};
