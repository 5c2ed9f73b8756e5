/**
 * The event store port. Conventions follow EventStoreDB: streams are `category-id`, revisions are 0-based per
 * stream, and a global position orders every event of the store. Every adapter passes one contract suite
 * (test/eventstore/contract.ts).
 */

/** How an append states what it believes the stream's revision to be. Every mode is enforced exactly. */
export type ExpectedRevision = 'no_stream' | 'stream_exists' | 'any' | number;

/**
 * A global position. On PostgreSQL/PGlite `commit` is the appending transaction's id (xid8) and `prepare` the
 * event's sequence number; on EventStoreDB they are its commit and prepare positions. Either way positions
 * compare as (commit, prepare) pairs.
 */
export interface Position {
  commit: bigint;
  prepare: bigint;
}

export const START: Position = Object.freeze({ commit: 0n, prepare: 0n });

export interface EventMetadata {
  actor?: { type: 'board' | 'agent' | 'system'; id: string };
  correlationId?: string;
  causationId?: string;
  schemaVersion?: number;
  [key: string]: unknown;
}

export interface EventToAppend<Type extends string = string, Data = unknown> {
  /** A UUID; re-appending an event whose id is stored is a no-op that returns the first result. */
  id?: string;
  type: Type;
  data: Data;
  metadata?: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  streamName: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  revision: number;
  position: Position;
  recordedAt: Date;
}

export interface AppendResult {
  /** The revision of the last event now in the stream: the `expected` for the next append. */
  nextExpectedRevision: number;
  /** The global position of the last appended event (read-your-writes waits for it). */
  position: Position;
  /** True when every event id was already stored and nothing was written. */
  duplicate: boolean;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** Inclusive. Defaults to the first revision (forwards) or the last (backwards). */
  fromRevision?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Defaults to the start. */
  after?: Position;
  maxCount?: number;
}

export interface EventStore {
  readonly kind: 'postgres' | 'pglite' | 'eventstoredb' | 'memory';
  append(streamName: string, events: EventToAppend[], expected: ExpectedRevision): Promise<AppendResult>;
  /** Throws `StreamNotFoundError` for a stream that has no event; an empty array means "nothing in range". */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** The global log in order, never skipping an event that commits late. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Counts the events after `after`, up to `cap` (projection lag). */
  countAfter(after: Position, cap: number): Promise<number>;
  /**
   * The events of several streams from a revision on (inclusive), in one round trip where the backend allows
   * it. A missing stream gives no events. Used to catch cached aggregates up.
   */
  readStreamsForward?(requests: { streamName: string; fromRevision: number }[]): Promise<Map<string, RecordedEvent[]>>;
  /**
   * When the oldest event after `after` was recorded, including events not yet readable in global order
   * (lag in time, also while readers are held back). Null when there is none.
   */
  oldestAfter?(after: Position): Promise<Date | null>;
  /**
   * Calls `onAppend` (possibly coalesced, possibly spuriously) when events may have been appended, by this
   * process or another. A wake-up signal only: readers always read from their own checkpoint.
   */
  subscribe(onAppend: () => void): Promise<() => Promise<void>>;
  /** Reachability probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Errors

export class EventStoreError extends Error {}

export class WrongExpectedRevisionError extends EventStoreError {
  override readonly name = 'WrongExpectedRevisionError';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    /** The stream's current revision, or `no_stream`. */
    readonly actual: number | 'no_stream',
  ) {
    super(`wrong expected revision on ${streamName}: expected ${String(expected)}, actual ${String(actual)}`);
  }
}

export class StreamNotFoundError extends EventStoreError {
  override readonly name = 'StreamNotFoundError';
  constructor(readonly streamName: string) {
    super(`stream not found: ${streamName}`);
  }
}

export class InvalidStreamNameError extends EventStoreError {
  override readonly name = 'InvalidStreamNameError';
  constructor(readonly streamName: unknown) {
    super(`invalid stream name: ${JSON.stringify(String(streamName)).slice(0, 120)} (expected category-id)`);
  }
}

export class InvalidExpectedRevisionError extends EventStoreError {
  override readonly name = 'InvalidExpectedRevisionError';
  constructor(readonly expected: unknown) {
    super(`invalid expected revision: ${String(expected).slice(0, 60)}`);
  }
}

export class InvalidEventError extends EventStoreError {
  override readonly name = 'InvalidEventError';
}

/**
 * The backend could not be reached, or did not answer within its deadline (an HTTP 503). The outcome of an
 * append that ends so is unknown: repeating it with the same event ids is safe.
 */
export class EventStoreUnavailableError extends EventStoreError {
  override readonly name = 'EventStoreUnavailableError';
}

/**
 * The stream was deleted on the backend (EventStoreDB: a tombstone, or a soft delete where its name would be
 * reused): it reads as missing and takes no append that would restart it.
 */
export class StreamDeletedError extends EventStoreError {
  override readonly name = 'StreamDeletedError';
  constructor(readonly streamName: string) {
    super(`stream deleted: ${streamName}`);
  }
}

/** Some, not all, of an append's event ids are already stored, or stored in another stream. */
export class IdempotencyConflictError extends EventStoreError {
  override readonly name = 'IdempotencyConflictError';
  constructor(readonly streamName: string) {
    super(`event ids of this append are partly stored already, or stored in another stream than ${streamName}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Validation shared by every adapter: bad input is refused before anything is written.

const STREAM_NAME = /^[a-z][a-z0-9_]{0,63}-[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,191}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.]{0,127}$/;

export function assertStreamName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !STREAM_NAME.test(name)) throw new InvalidStreamNameError(name);
}

export function assertExpectedRevision(expected: unknown): asserts expected is ExpectedRevision {
  if (expected === 'no_stream' || expected === 'stream_exists' || expected === 'any') return;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return;
  throw new InvalidExpectedRevisionError(expected);
}

const MAX_DEPTH = 64;
// NUL cannot be stored in PostgreSQL text/jsonb, and a lone surrogate is not valid Unicode.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string cannot be stored as given, or null. */
export function unstorableString(s: string): string | null {
  return UNSTORABLE.test(s) ? 'contains a NUL character or an unpaired surrogate' : null;
}

/**
 * Only what survives JSON and jsonb unchanged: no undefined, functions, BigInt, NaN/Infinity, Dates, class
 * instances, cycles, NUL characters or unpaired surrogates, and at most 64 levels deep.
 */
function assertJson(value: unknown, path: string, seen: Set<object>, depth = 0): void {
  if (depth > MAX_DEPTH) throw new InvalidEventError(`${path} is nested more than ${MAX_DEPTH} levels deep`);
  if (typeof value === 'string') {
    const problem = unstorableString(value);
    if (problem) throw new InvalidEventError(`${path} ${problem}`);
    return;
  }
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidEventError(`${path} is not a finite number`);
    return;
  }
  if (typeof value !== 'object') throw new InvalidEventError(`${path} is not JSON-serialisable (${typeof value})`);
  if (seen.has(value)) throw new InvalidEventError(`${path} is a cycle`);
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertJson(v, `${path}[${i}]`, seen, depth + 1));
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new InvalidEventError(`${path} is not a plain object`);
    for (const [k, v] of Object.entries(value)) {
      if (unstorableString(k)) throw new InvalidEventError(`${path} has a key that ${unstorableString(k)}`);
      if (v === undefined) continue; // dropped by JSON, as an absent optional field
      assertJson(v, `${path}.${k}`, seen, depth + 1);
    }
  }
  seen.delete(value);
}

export interface PreparedEvent {
  id: string;
  /** The id was made here, not given by the caller: it cannot be stored already. */
  generated: boolean;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
}

/** Validates an append's arguments and fills in event ids; throws a typed error, before any I/O. */
export function prepareAppend(streamName: unknown, events: unknown, expected: unknown, newId: () => string): PreparedEvent[] {
  assertStreamName(streamName);
  assertExpectedRevision(expected);
  if (!Array.isArray(events) || events.length === 0) throw new InvalidEventError('an append needs at least one event');
  const ids = new Set<string>();
  return events.map((e: EventToAppend, i) => {
    if (typeof e !== 'object' || e === null) throw new InvalidEventError(`events[${i}] is not an object`);
    if (typeof e.type !== 'string' || !EVENT_TYPE.test(e.type)) throw new InvalidEventError(`events[${i}].type is invalid`);
    const id = e.id ?? newId();
    if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidEventError(`events[${i}].id is not a UUID`);
    if (ids.has(id.toLowerCase())) throw new InvalidEventError(`events[${i}].id is repeated in the append`);
    ids.add(id.toLowerCase());
    if (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) {
      throw new InvalidEventError(`events[${i}].data must be a JSON object`);
    }
    assertJson(e.data, `events[${i}].data`, new Set());
    const metadata = e.metadata ?? {};
    assertJson(metadata, `events[${i}].metadata`, new Set());
    return {
      id: id.toLowerCase(),
      generated: e.id === undefined,
      type: e.type,
      data: JSON.parse(JSON.stringify(e.data)) as Record<string, unknown>,
      metadata: JSON.parse(JSON.stringify(metadata)) as EventMetadata,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Positions

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** `commit.prepare`, e.g. for the `X-CRM-Position` header. */
export function formatPosition(p: Position): string {
  return `${p.commit}.${p.prepare}`;
}

export function parsePosition(text: string): Position | null {
  const m = /^(\d{1,20})\.(\d{1,20})$/.exec(text);
  if (!m) return null;
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
}
