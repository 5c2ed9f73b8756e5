import type { Decider, DomainEvent } from './decider.js';

/**
 * The dispatcher's quota: one stream per company, credential and local day. Reserving is an append with the
 * exact expected revision, so the cap holds whatever the number of processes.
 */
export const bucketStream = (companyId: string, credentialId: string, day: string) => `crm_bucket-${companyId}.${credentialId}.${day}`;

export type QuotaBucketEvent =
  | DomainEvent<'QuotaReserved', { companyId: string; credentialId: string; day: string; activityId: string; cap: number; at: string }>
  | DomainEvent<'QuotaRefunded', { companyId: string; credentialId: string; day: string; activityId: string; at: string }>;

export interface QuotaBucketState {
  /** Activities holding a unit (reserved and not refunded). */
  holders: Set<string>;
  /** Every activity that ever reserved here (a refund is final: no second reservation for it). */
  reserved: Set<string>;
}

export interface ReserveRequest {
  activityId: string;
  cap: number;
}

export type QuotaBucketCommand =
  | { type: 'Reserve'; companyId: string; credentialId: string; day: string; requests: ReserveRequest[]; now: string }
  | { type: 'Refund'; companyId: string; credentialId: string; day: string; activityId: string; now: string };

export function usedUnits(state: QuotaBucketState): number {
  return state.holders.size;
}

/** Applies events to a state in place: for an owner that keeps one private state (the quota reserver's cache). */
export function foldBucketInto(state: QuotaBucketState, events: readonly QuotaBucketEvent[]): QuotaBucketState {
  for (const event of events) {
    if (event.type === 'QuotaReserved') {
      state.holders.add(event.data.activityId);
      state.reserved.add(event.data.activityId);
    } else {
      state.holders.delete(event.data.activityId);
    }
  }
  return state;
}

/**
 * Folds several events with one copy of the sets: a hot bucket holds thousands of units, and copying them per
 * event made each batch of reservations quadratic.
 */
export function evolveBucket(state: QuotaBucketState, events: readonly QuotaBucketEvent[]): QuotaBucketState {
  if (events.length === 0) return state;
  return foldBucketInto({ holders: new Set(state.holders), reserved: new Set(state.reserved) }, events);
}

/** A state with the changes of the commands decided so far on top, without copying its sets. */
class BucketOverlay {
  private readonly added = new Set<string>();
  private readonly removed = new Set<string>();
  used: number;
  constructor(private readonly base: QuotaBucketState) {
    this.used = base.holders.size;
  }
  holds(id: string): boolean {
    return (this.added.has(id) || this.base.holders.has(id)) && !this.removed.has(id);
  }
  everReserved(id: string): boolean {
    return this.added.has(id) || this.base.reserved.has(id);
  }
  record(event: QuotaBucketEvent): QuotaBucketEvent {
    if (event.type === 'QuotaReserved') {
      this.added.add(event.data.activityId);
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
  if (command.type === 'Refund') {
    if (!view.holds(command.activityId)) return [];
    return [
      view.record({ type: 'QuotaRefunded', data: { companyId, credentialId, day, activityId: command.activityId, at: command.now } }),
    ];
  }
  const events: QuotaBucketEvent[] = [];
  for (const r of command.requests) {
    if (view.everReserved(r.activityId) || view.used >= r.cap) continue;
    events.push(
      view.record({ type: 'QuotaReserved', data: { companyId, credentialId, day, activityId: r.activityId, cap: r.cap, at: command.now } }),
    );
  }
  return events;
}

/** Decides commands in order, each on the state the ones before it produced: one list of events per command. */
export function decideBucketBatch(commands: readonly QuotaBucketCommand[], state: QuotaBucketState): QuotaBucketEvent[][] {
  const view = new BucketOverlay(state);
  return commands.map((c) => decideOn(c, view));
}

export const quotaBucketDecider: Decider<QuotaBucketCommand, QuotaBucketState, QuotaBucketEvent> = {
  initialState: () => ({ holders: new Set(), reserved: new Set() }),
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
