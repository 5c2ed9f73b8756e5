import { fold } from '../domain/decider.js';
import type { EventMetadata, EventStore } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import { AUDIT_KINDS, AUDIT_KIND_SPECS, type AuditKind, isAuditKind } from './kinds.js';

/** A kind or an id the audit does not know: the caller's mistake (HTTP 400, CLI usage error). */
export class AuditInputError extends Error {}

export interface HistoryEntry {
  revision: number;
  type: string;
  recordedAt: string;
  actor: NonNullable<EventMetadata['actor']> | null;
  data: unknown;
}

export interface AggregateState {
  kind: AuditKind;
  id: string;
  /** The instant asked for, or null for now. */
  asOf: string | null;
  /** The last event folded in (null: none had been recorded by then). */
  revision: number | null;
  recordedAt: string | null;
  eventsFolded: number;
  /** The decider's state, as the command loop would have decided on it then. */
  state: unknown;
}

/** The stream of an aggregate the audit knows; an unknown kind or a malformed id is an AuditInputError. */
export function auditStream(kind: string, id: string): { kind: AuditKind; stream: string } {
  if (!isAuditKind(kind)) throw new AuditInputError(`unknown kind '${kind}' (one of ${AUDIT_KINDS.join(', ')})`);
  const stream = AUDIT_KIND_SPECS[kind].stream(id);
  if (!stream) throw new AuditInputError(`${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} id is ${AUDIT_KIND_SPECS[kind].idForm}`);
  return { kind, stream };
}

/** An aggregate's events, oldest first; null when it has none (no such aggregate). */
export async function history(store: EventStore, kind: string, id: string): Promise<HistoryEntry[] | null> {
  const events = await readStreamIfAny(store, auditStream(kind, id).stream);
  return (
    events?.map((e) => ({
      revision: e.revision,
      type: e.type,
      recordedAt: e.recordedAt.toISOString(),
      actor: e.metadata.actor ?? null,
      data: e.data,
    })) ?? null
  );
}

/**
 * Audit replay: the aggregate folded from the events recorded up to `asOf` (inclusive; null: all of them), by the
 * same decider the command loop decides with. Null when the aggregate has no event at all.
 */
export async function stateAsOf(store: EventStore, kind: string, id: string, asOf: Date | null): Promise<AggregateState | null> {
  const target = auditStream(kind, id);
  const events = await readStreamIfAny(store, target.stream);
  if (!events) return null;
  const upTo = asOf ? events.filter((e) => e.recordedAt.getTime() <= asOf.getTime()) : events;
  const last = upTo[upTo.length - 1];
  const spec = AUDIT_KIND_SPECS[target.kind];
  return {
    kind: target.kind,
    id,
    asOf: asOf?.toISOString() ?? null,
    revision: last?.revision ?? null,
    recordedAt: last?.recordedAt.toISOString() ?? null,
    eventsFolded: upTo.length,
    state: plain(
      fold(
        spec.decider,
        upTo.map((e) => ({ type: e.type, data: e.data as Record<string, unknown> })),
      ),
    ),
  };
}

/** A state as JSON can carry it: Maps as objects, Sets as arrays, Dates as ISO strings, bigints as strings. */
export function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
  if (value instanceof Set) return [...value].map(plain);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}
