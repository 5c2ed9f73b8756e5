import type { EventStore } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import { notFound } from './errors.js';

/**
 * An aggregate's events as its audit trail (the `/history` routes), for the company whose aggregate it is: the
 * first event names the company; a missing stream, or another company's, is the same 404.
 */
export async function companyStreamHistory(store: EventStore, streamName: string, companyId: string, what: string) {
  const events = await readStreamIfAny(store, streamName);
  if (!events || (events[0]?.data as { companyId?: string } | undefined)?.companyId !== companyId) throw notFound(`${what} not found`);
  return events.map((e) => ({
    revision: e.revision,
    type: e.type,
    data: e.data,
    actor: e.metadata.actor ?? null,
    recordedAt: e.recordedAt,
  }));
}
