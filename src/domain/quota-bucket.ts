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

/**
 * Folds several events with one copy of the sets: a hot bucket holds thousands of units, and copying them per
 * event made each batch of reservations quadratic.
 */
export function evolveBucket(state: QuotaBucketState, events: readonly QuotaBucketEvent[]): QuotaBucketState {
  if (events.length === 0) return state;
  const holders = new Set(state.holders);
  const reserved = new Set(state.reserved);
  for (const event of events) {
    if (event.type === 'QuotaReserved') {
      holders.add(event.data.activityId);
      reserved.add(event.data.activityId);
    } else {
      holders.delete(event.data.activityId);
    }
  }
  return { holders, reserved };
}

export const quotaBucketDecider: Decider<QuotaBucketCommand, QuotaBucketState, QuotaBucketEvent> = {
  initialState: () => ({ holders: new Set(), reserved: new Set() }),
  evolve: (state, event) => evolveBucket(state, [event]),
  /** A batch of reservations (group commit): each gets a unit while the cap allows, in order. */
  decide(command, state) {
    const { companyId, credentialId, day } = command;
    if (command.type === 'Refund') {
      if (!state.holders.has(command.activityId)) return [];
      return [{ type: 'QuotaRefunded', data: { companyId, credentialId, day, activityId: command.activityId, at: command.now } }];
    }
    let used = usedUnits(state);
    const events: QuotaBucketEvent[] = [];
    const seen = new Set<string>();
    for (const r of command.requests) {
      if (state.reserved.has(r.activityId) || seen.has(r.activityId)) continue;
      if (used >= r.cap) continue;
      seen.add(r.activityId);
      used++;
      events.push({ type: 'QuotaReserved', data: { companyId, credentialId, day, activityId: r.activityId, cap: r.cap, at: command.now } });
    }
    return events;
  },
};
