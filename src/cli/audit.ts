import { outputTable } from './table.js';
import type { AggregateState, HistoryEntry } from '../audit/replay.js';
import type { ServerApi } from './server-api.js';

/** Where the audit is read: this process's own event store, or the running server's admin API. */
export interface AuditAccess {
  history(kind: string, id: string): Promise<HistoryEntry[] | null>;
  state(kind: string, id: string, asOf: Date | null): Promise<AggregateState | null>;
}

const path = (what: 'history' | 'state', kind: string, id: string) =>
  `/api/admin/${what}/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`;

/** The audit routes' own 404 (`No <kind> <id>`): the aggregate has no events, as opposed to a route unknown. */
const noSuch = (error: string) => error.startsWith('No ');

export function auditViaServer(api: ServerApi): AuditAccess {
  return {
    history: async (kind, id) => (await api.getOrNull<{ events: HistoryEntry[] }>(path('history', kind, id), noSuch))?.events ?? null,
    state: (kind, id, asOf) =>
      api.getOrNull<AggregateState>(`${path('state', kind, id)}${asOf ? `?asOf=${encodeURIComponent(asOf.toISOString())}` : ''}`, noSuch),
  };
}

const DATA_WIDTH = 80;

/** One row per event; the data as compact JSON, cut to a line (`--json` has it whole). */
export function historyTable(events: HistoryEntry[]): string {
  const table = outputTable(['rev', 'recorded at', 'type', 'actor', 'data']);
  for (const e of events) {
    const data = JSON.stringify(e.data);
    table.push([
      e.revision,
      e.recordedAt,
      e.type,
      e.actor ? `${e.actor.type}:${e.actor.id}` : '-',
      data.length > DATA_WIDTH ? `${data.slice(0, DATA_WIDTH - 1)}…` : data,
    ]);
  }
  return table.toString();
}
