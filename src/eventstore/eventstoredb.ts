import { createHash, randomUUID } from 'node:crypto';
import {
  ANY,
  BACKWARDS,
  CancelledError,
  DeadlineExceededError,
  END,
  KurrentDBClient,
  FORWARDS,
  NO_STREAM,
  NotLeaderError,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamDeletedError as EsdbStreamDeletedError,
  StreamNotFoundError as EsdbStreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamRecordedEvent,
  type AllStreamSubscription,
  type AppendStreamState,
  type ReadPosition,
  type ReadRevision,
  type ResolvedEvent,
} from '@kurrent/kurrentdb-client';
import {
  type AppendResult,
  type EventMetadata,
  type EventStore,
  EventStoreError,
  EventStoreUnavailableError,
  type ExpectedRevision,
  IdempotencyConflictError,
  type Position,
  type PreparedEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  assertStreamName,
  comparePositions,
  prepareAppend,
} from './port.js';

/*
 * The event store on EventStoreDB (KurrentDB), through `@kurrent/kurrentdb-client` 1.3.x: appends and
 * subscriptions over gRPC from Node, reads of streams and `$all` through its native bridge (`@kurrent/bridge`,
 * a Rust gRPC client; prebuilt per platform, from the npm registry). Server 20.10+, positions on stream reads
 * from 22.6. The choice of client lives in this file only (and the stand-in's proto loading in test/).
 *
 * What the client and the server give us, and what this adapter adds to honour the port exactly:
 *
 * - Expected revisions map 1:1 (`no_stream` -> NO_STREAM, `stream_exists` -> STREAM_EXISTS, `any` -> ANY,
 *   n -> BigInt(n)) and the server enforces each one (IndexWriter.CheckCommit). A mismatch rejects with the
 *   client's `WrongExpectedVersionError`, whose `actualState` is a bigint or the string 'no_stream' (from the
 *   batch-append error details; the older metadata path may carry -1n, which also means no stream).
 * - Global positions: an event appended over gRPC is a self-committed prepare record, and `$all` reports it at
 *   {commit: its log position, prepare: its log position}. The append result carries {commit, prepare} of the
 *   last appended event. Reading `$all` from a position is inclusive, so `readAll` drops events <= `after`.
 * - Reads of a missing stream throw the client's `StreamNotFoundError` while iterating (the bridge's error,
 *   converted by the client); we turn it into ours.
 * - System events (`$` types or streams: stats, settings, scavenges, ...) and our id claims are dropped from
 *   `$all` reads here, and the read pages on until `maxCount` user events are found. Client 1.x could filter
 *   `$all` reads on the node, but the claims (user events of a `crm_eventid-` stream) must be dropped here
 *   anyway, and one filter in one place keeps the paging simple.
 *   Subscriptions do take one (`excludeSystemEvents()`, a server-side event-type regex `^[^$].*`).
 *
 * Idempotency, and what `duplicate` can and cannot tell:
 * - The server's idempotency check works per stream, on event ids. With an exact revision or `no_stream`, when
 *   the stream has moved past the expected revision, it compares the ids stored right after that revision
 *   with the append's: all equal -> success without writing (answering the first write's revision and
 *   position), none -> WrongExpectedVersion, some -> WrongExpectedVersion too ("corrupted idempotency").
 *   With `any` / `stream_exists` it looks the ids up in an in-memory cache of recently committed event ids:
 *   best effort, a cache miss appends the events a second time. When the expected revision equals the
 *   current one the server writes, whether or not the ids are stored earlier in the stream.
 * - The wire answer of an idempotent no-op is identical to that of a fresh write, so EventStoreDB never tells
 *   us which one happened. Hence:
 *   * ids this adapter generated (randomUUID) cannot be stored yet: no check, `duplicate: false` is certain;
 *   * when the caller supplied ids, we look for them at the end of the stream first (a bounded backwards
 *     scan, DUPLICATE_SCAN_LIMIT events): all found -> nothing is written and we answer `duplicate: true` with
 *     the stored revision and position; some found -> IdempotencyConflictError; none -> append. On a
 *     WrongExpectedVersion we scan again, since an identical append may have landed in between;
 *   * identical appends racing in this process are joined: the first one runs, the others answer its
 *     result with `duplicate: true`;
 *   * what remains inexact: identical appends racing from two processes can both answer `duplicate: false`
 *     (the server still stores the events once for an exact revision / `no_stream`, best effort for `any`),
 *     ids stored further back than the scan limit are not seen, and an id reused in another stream is not
 *     detected (EventStoreDB has no index of event ids across streams, and allows that reuse).
 */

/** How far back (events) an append with caller-supplied ids looks for them before writing. */
export const DUPLICATE_SCAN_LIMIT = 1_000;
const SCAN_PAGE = 100;
const DEFAULT_READ_ALL_MAX = 1_000;
const PING_TIMEOUT_MS = 5_000;
/** How long one call (a read, an append, a subscription's confirmation) may take before it is a 503. */
export const DEFAULT_DEADLINE_MS = 10_000;
/** Attempts of an append whose outcome is unknown (a dropped connection), with the same ids. */
const APPEND_ATTEMPTS = 3;
const RETRY_BACKOFF_MS = [100, 400];
/**
 * `countAfter` reads the events it counts, so on EventStoreDB it counts at most this many (a lagging
 * projection's /readyz and /metrics would otherwise stream up to the caller's cap, 100k, per projection).
 */
export const COUNT_CAP = 1_000;
/** Claims of caller-supplied event ids live in one stream per id (see `claimIds`). */
export const CLAIM_CATEGORY = 'crm_eventid';
const CLAIM_TYPE = 'CrmEventIdClaimed';
const RESUBSCRIBE_MIN_MS = 250;
const RESUBSCRIBE_MAX_MS = 5_000;
/** The client's sentinel for "no position" on events read from a stream before server 22.6. */
const NO_POSITION = 0xffff_ffff_ffff_ffffn;

// ---------------------------------------------------------------------------------------------------------
// Pure mapping helpers (unit-tested without a server)

export function toClientStreamState(expected: ExpectedRevision): AppendStreamState {
  switch (expected) {
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    case 'any':
      return ANY;
    default:
      return BigInt(expected);
  }
}

/** The client reports a missing stream as 'no_stream' (or -1n on the metadata error path). */
export function toActualRevision(actual: unknown): number | 'no_stream' {
  if (typeof actual === 'bigint') return actual < 0n ? 'no_stream' : Number(actual);
  if (typeof actual === 'number' && Number.isFinite(actual)) return actual < 0 ? 'no_stream' : actual;
  return 'no_stream';
}

/** The client's WrongExpectedVersionError as ours; anything else is not a revision conflict (null). */
export function toWrongExpectedRevisionError(
  err: unknown,
  streamName: string,
  expected: ExpectedRevision,
): WrongExpectedRevisionError | null {
  if (!(err instanceof WrongExpectedVersionError)) return null;
  return new WrongExpectedRevisionError(streamName, expected, toActualRevision(err.actualState));
}

/** A position as the client gives it (absent, or the u64-max sentinel of old servers) as ours, or null. */
export function toPortPosition(p: { commit: bigint; prepare: bigint } | undefined | null): Position | null {
  if (!p || typeof p.commit !== 'bigint' || typeof p.prepare !== 'bigint') return null;
  if (p.commit < 0n || p.prepare < 0n || p.commit === NO_POSITION || p.prepare === NO_POSITION) return null;
  return { commit: p.commit, prepare: p.prepare };
}

/** Where a `$all` read starts for an exclusive checkpoint: the log start, or the checkpoint itself (inclusive). */
export function toReadPosition(after: Position): ReadPosition {
  return after.commit === 0n && after.prepare === 0n ? ESDB_START : { commit: after.commit, prepare: after.prepare };
}

/**
 * EventStoreDB was renamed KurrentDB; the client (1.x) parses `kurrentdb://`, `kurrent://` and `kdb://` (each
 * with `+discover`), and still `esdb://` but with a deprecation warning on the console, outside our log. The
 * same gRPC protocol either way, so `esdb` URLs are handed to it as `kurrentdb`.
 */
export function toClientConnectionString(connectionString: string): string {
  return connectionString.trim().replace(/^esdb(\+discover)?:\/\//i, (_m, discover?: string) => `kurrentdb${discover ?? ''}://`);
}

/** The node's own events, and this adapter's id claims: no reader of the port sees them. */
export function isSystemEvent(e: { streamId: string; type: string }): boolean {
  return e.streamId.startsWith('$') || e.type.startsWith('$') || e.streamId.startsWith(`${CLAIM_CATEGORY}-`);
}

/** gRPC status codes the client surfaces raw on a channel's first call. */
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;
const UNREACHABLE_TYPES = new Set(['unavailable', 'deadline-exceeded', 'not-leader', 'cancelled']);

/**
 * The node could not be reached or did not answer: the client's UnavailableError, DeadlineExceededError,
 * NotLeaderError or CancelledError (which the client itself reconnects on), by class, by its `type`, or a raw
 * gRPC error of code 14, 4 or 1 (a channel's first call). Their `name` is always 'Error', hence no name test.
 */
export function isUnreachable(err: unknown): boolean {
  if (
    err instanceof UnavailableError ||
    err instanceof DeadlineExceededError ||
    err instanceof NotLeaderError ||
    err instanceof CancelledError
  )
    return true;
  if (typeof err !== 'object' || err === null) return false;
  const { type, code } = err as { type?: unknown; code?: unknown };
  if (typeof type === 'string' && UNREACHABLE_TYPES.has(type)) return true;
  return code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED || code === GRPC_CANCELLED;
}

/** The client's errors as the port's: an outage is a 503, a deleted stream a port error; ours pass as they are. */
export function toPortError(err: unknown, streamName?: string): unknown {
  if (err instanceof EventStoreError) return err;
  if (isUnreachable(err)) {
    const detail = err instanceof Error ? err.message : String(err);
    return new EventStoreUnavailableError(`EventStoreDB is unreachable: ${detail}`, { cause: err });
  }
  if (err instanceof EsdbStreamDeletedError) return new StreamDeletedError(streamName ?? err.streamName);
  return err;
}

/** The claim stream of a caller-supplied event id, and the claim's own id: the same for the same target stream. */
export function claimOf(eventId: string, streamName: string): { stream: string; id: string } {
  const h = createHash('sha1').update(`${eventId.toLowerCase()}\n${streamName}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // a name-based (v5-style) UUID
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return {
    stream: `${CLAIM_CATEGORY}-${eventId.toLowerCase()}`,
    id: `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`,
  };
}

/** What this adapter reads of the client's recorded event (a structural subset, so tests can build one). */
export interface EsdbRecord {
  streamId: string;
  id: string;
  type: string;
  revision: bigint;
  created: Date;
  isJson: boolean;
  data: unknown;
  metadata: unknown;
  position?: { commit: bigint; prepare: bigint };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The client parses JSON metadata itself; it hands back bytes when they are not JSON, undefined when empty. */
export function toMetadata(raw: unknown): EventMetadata {
  const value = raw instanceof Uint8Array ? parseJsonBytes(raw) : raw;
  return isPlainObject(value) ? (value as EventMetadata) : {};
}

function toData(e: EsdbRecord): unknown {
  if (e.isJson || !(e.data instanceof Uint8Array)) return e.data;
  const parsed = parseJsonBytes(e.data);
  return parsed === undefined ? e.data : parsed;
}

export function toRecordedEvent(e: EsdbRecord): RecordedEvent {
  return {
    id: e.id.toLowerCase(),
    streamName: e.streamId,
    type: e.type,
    data: toData(e),
    metadata: toMetadata(e.metadata),
    revision: Number(e.revision),
    // Servers before 22.6 give no position on stream reads (the pinned image is 23.10); $all reads always do.
    position: toPortPosition(e.position) ?? START,
    recordedAt: e.created,
  };
}

export interface StoredRef {
  revision: number;
  position: Position;
}

export type StoredIds = { kind: 'none' } | { kind: 'partial' } | { kind: 'all'; revision: number; position: Position };

/** Whether an append's ids are all, partly or not stored, given those found in the stream. */
export function classifyStoredIds(ids: readonly string[], found: ReadonlyMap<string, StoredRef>): StoredIds {
  const hits = ids.map((id) => found.get(id.toLowerCase())).filter((r): r is StoredRef => r !== undefined);
  if (hits.length === 0) return { kind: 'none' };
  if (hits.length < ids.length) return { kind: 'partial' };
  let last = hits[0]!;
  for (const h of hits) if (h.revision > last.revision) last = h;
  let position = hits[0]!.position;
  for (const h of hits) if (comparePositions(h.position, position) > 0) position = h.position;
  return { kind: 'all', revision: last.revision, position };
}

// ---------------------------------------------------------------------------------------------------------

async function collect<E>(read: AsyncIterable<E>): Promise<E[]> {
  const out: E[] = [];
  for await (const item of read) out.push(item);
  return out;
}

/**
 * A read that must end within `ms`. Reads go through the client's native bridge (kurrentdb-client 1.x), whose
 * read calls take no deadline, so a hung node would hang the command or the projection loop waiting on it. When
 * late: a 503, and the read is abandoned (its iterator asked to return; the bridge ends it when it can).
 */
async function collectWithin<E>(read: AsyncIterableIterator<E>, ms: number): Promise<E[]> {
  const done = collect(read);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EventStoreUnavailableError(`EventStoreDB did not answer a read within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([done, late]);
  } catch (err) {
    done.catch(() => undefined);
    read.return?.()?.catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** An append that ended so may have been committed: only a retry with the same ids tells. */
const outcomeUnknown = (err: unknown) => err instanceof EventStoreUnavailableError || isUnreachable(err);

function toEventData(e: PreparedEvent) {
  return jsonEvent({ id: e.id, type: e.type, data: e.data, metadata: e.metadata });
}

const BATCH_APPEND_PATH = '/event_store.client.streams.Streams/BatchAppend';

/**
 * Appends go through the unary Append call, never BatchAppend. The BatchAppend stream runs with no client
 * deadline (kurrentdb-client 1.3 dist/streams/appendToStream/batchAppend.js: `deadline: Infinity`; the append's
 * own deadline travels in the request for the node to enforce), so against a hung node an append would wait
 * forever, and one broken stream fails every append in flight on it, which the node may still commit. (Client
 * 6.x was worse: ONE process-wide map of pending batch appends, finding 3; 1.3 keeps one per stream.) Each unary
 * Append is its own call, with its own deadline and its own failure. The client takes BatchAppend whenever the
 * node lists it, so that one answer of the node's features is hidden from it.
 */
function useUnaryAppends(client: KurrentDBClient): void {
  const c = client as unknown as { supports?: (method: { path?: string }, feature?: string) => Promise<boolean> };
  const supports = c.supports;
  if (typeof supports !== 'function') throw new Error('@kurrent/kurrentdb-client changed: Client.supports is gone (see useUnaryAppends)');
  c.supports = (method, feature) => (method?.path === BATCH_APPEND_PATH ? Promise.resolve(false) : supports.call(client, method, feature));
}

export interface EventStoreDbOptions {
  /** How long one call may take (a read, an append attempt, a subscription's confirmation), ms. */
  deadlineMs?: number;
}

export async function createEventStoreDbStore(connectionString: string, options: EventStoreDbOptions = {}): Promise<EventStore> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const client = KurrentDBClient.connectionString(toClientConnectionString(connectionString));
  useUnaryAppends(client);
  const inFlight = new Map<string, Promise<AppendResult>>();
  const subscriptions = new Set<() => Promise<void>>();
  const readWithin = <E>(read: AsyncIterableIterator<E>) => collectWithin(read, deadlineMs);

  /** The ids among the last events of the stream (bounded scan backwards; the rest of one append is adjacent). */
  async function scanStoredIds(streamName: string, ids: readonly string[]): Promise<Map<string, StoredRef>> {
    const wanted = new Set(ids.map((id) => id.toLowerCase()));
    const found = new Map<string, StoredRef>();
    let from: ReadRevision = END;
    let scanned = 0;
    let budget = DUPLICATE_SCAN_LIMIT;
    for (;;) {
      let page: ResolvedEvent[];
      try {
        page = await readWithin(client.readStream(streamName, { direction: BACKWARDS, fromRevision: from, maxCount: SCAN_PAGE }));
      } catch (err) {
        if (err instanceof EsdbStreamNotFoundError) return found;
        throw err;
      }
      let oldest: bigint | null = null;
      for (const resolved of page) {
        const e = resolved.event;
        if (!e) continue;
        scanned++;
        oldest = e.revision;
        const id = e.id.toLowerCase();
        if (wanted.has(id)) {
          found.set(id, { revision: Number(e.revision), position: toPortPosition(e.position) ?? START });
        }
      }
      if (found.size === wanted.size) return found;
      if (found.size > 0) budget = Math.max(budget, scanned + wanted.size);
      if (page.length < SCAN_PAGE || oldest === null || oldest === 0n || scanned >= budget) return found;
      from = oldest - 1n;
    }
  }

  async function currentRevision(streamName: string): Promise<number | 'no_stream'> {
    try {
      const [last] = await readWithin(client.readStream(streamName, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }));
      return last?.event ? Number(last.event.revision) : 'no_stream';
    } catch (err) {
      if (err instanceof EsdbStreamNotFoundError) return 'no_stream';
      throw err;
    }
  }

  async function positionOfRevision(streamName: string, revision: number): Promise<Position> {
    const [e] = await readWithin(client.readStream(streamName, { fromRevision: BigInt(revision), maxCount: 1 }));
    return toPortPosition(e?.event?.position) ?? START;
  }

  /**
   * The node writes a `no_stream` append to a soft-deleted (or truncated) stream after its last event,
   * "continuing from where it left off", not at revision 0 as the port says; such an append is refused. It
   * costs one read of the stream's metadata on each `no_stream` append (a stream's creation).
   */
  async function refuseReusedName(streamName: string): Promise<void> {
    let meta: ResolvedEvent[];
    try {
      meta = await readWithin(client.readStream(`$$${streamName}`, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }));
    } catch (err) {
      if (err instanceof EsdbStreamNotFoundError) return;
      throw err;
    }
    const data = meta[0]?.event?.data;
    if (isPlainObject(data) && data['$tb'] !== undefined) throw new StreamDeletedError(streamName);
  }

  /**
   * Caller-supplied ids are claimed before their events are written: one claim stream per id, written with
   * `no_stream`, the claim's own id derived from (event id, target stream). A repeat for the same stream is
   * the node's idempotent no-op; a claim made for another stream makes it a wrong expected version, which is
   * the port's IdempotencyConflictError (EventStoreDB itself allows one id in several streams). One more
   * append per caller-supplied id (webhook facts, mostly), side by side. A claim whose append then fails
   * stays: the id belongs to that stream, where a repeat of the command lands.
   */
  async function claimIds(streamName: string, events: PreparedEvent[]): Promise<void> {
    const outcomes = await Promise.allSettled(
      events.map((e) => {
        const claim = claimOf(e.id, streamName);
        return client.appendToStream(claim.stream, jsonEvent({ id: claim.id, type: CLAIM_TYPE, data: { eventId: e.id, streamName } }), {
          streamState: NO_STREAM,
          deadline: deadlineMs,
        });
      }),
    );
    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    if (failures.some((err) => err instanceof WrongExpectedVersionError)) throw new IdempotencyConflictError(streamName);
    if (failures.length > 0) throw failures[0];
  }

  async function appendOnce(
    streamName: string,
    prepared: PreparedEvent[],
    expected: ExpectedRevision,
    callerIds: boolean,
  ): Promise<AppendResult> {
    const ids = prepared.map((e) => e.id);
    const storedResult = async (): Promise<AppendResult | null> => {
      const stored = classifyStoredIds(ids, await scanStoredIds(streamName, ids));
      if (stored.kind === 'partial') throw new IdempotencyConflictError(streamName);
      if (stored.kind === 'all') return { nextExpectedRevision: stored.revision, position: stored.position, duplicate: true };
      return null;
    };
    const conflict = async (actual: number | 'no_stream', lookFirst: boolean): Promise<AppendResult> => {
      // An identical append may have landed between our check and our write, at another revision than expected.
      if (lookFirst) {
        const dup = await storedResult();
        if (dup) return dup;
      }
      throw new WrongExpectedRevisionError(streamName, expected, actual);
    };
    const write = async (retry: boolean): Promise<AppendResult> => {
      let result;
      try {
        result = await client.appendToStream(streamName, prepared.map(toEventData), {
          streamState: toClientStreamState(expected),
          deadline: deadlineMs,
        });
      } catch (err) {
        const mapped = toWrongExpectedRevisionError(err, streamName, expected);
        if (!mapped) throw err;
        return conflict(mapped.actual, callerIds || retry);
      }
      if (!result.success) {
        // Only when the connection string sets throwOnAppendFailure=false; its revision is then unreliable.
        return conflict(await currentRevision(streamName), callerIds || retry);
      }
      const nextExpectedRevision = Number(result.nextExpectedRevision);
      return {
        nextExpectedRevision,
        position: toPortPosition(result.position) ?? (await positionOfRevision(streamName, nextExpectedRevision)),
        duplicate: false,
      };
    };

    if (callerIds) {
      const dup = await storedResult();
      if (dup) return dup;
    }
    const started = Date.now();
    let checked = false;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!checked) {
          if (expected === 'no_stream') await refuseReusedName(streamName);
          if (callerIds)
            await claimIds(
              streamName,
              prepared.filter((e) => !e.generated),
            );
          checked = true;
        } else if (attempt > 1) {
          // The same ids again, within the node's idempotency rules; looked for first, as the first attempt may
          // have been committed (its reply lost): then that is the answer, as a duplicate.
          const dup = await storedResult();
          if (dup) return dup;
        }
        return await write(attempt > 1);
      } catch (err) {
        // Not after a whole deadline: a hung node would hang the retry too.
        if (!outcomeUnknown(err) || attempt >= APPEND_ATTEMPTS || Date.now() - started >= deadlineMs) throw err;
        await sleep(RETRY_BACKOFF_MS[attempt - 1] ?? RETRY_BACKOFF_MS.at(-1)!);
      }
    }
  }

  /** Identical appends (same stream, same ids) in flight in this process: the first runs, the others join it. */
  async function joinIdenticalAppends(key: string, run: () => Promise<AppendResult>): Promise<AppendResult> {
    let joined: Promise<AppendResult> | undefined;
    for (;;) {
      const current = inFlight.get(key);
      if (!current || current === joined) break;
      joined = current;
      try {
        return { ...(await current), duplicate: true };
      } catch {
        // The first attempt failed (conflict, outage): this one makes its own.
      }
    }
    const attempt = run();
    inFlight.set(key, attempt);
    try {
      return await attempt;
    } finally {
      if (inFlight.get(key) === attempt) inFlight.delete(key);
    }
  }

  async function readAllPage(from: ReadPosition, count: number): Promise<AllStreamRecordedEvent[]> {
    const page = await readWithin(client.readAll({ direction: FORWARDS, fromPosition: from, maxCount: count }));
    return page.flatMap((r) => (r.event ? [r.event] : []));
  }

  /** Visits the user events strictly after `after`, in order, until `visit` returns false or the log ends. */
  async function scanAll(after: Position, pageSize: number, visit: (e: AllStreamRecordedEvent) => boolean): Promise<void> {
    let floor = after;
    for (;;) {
      const page = await readAllPage(toReadPosition(floor), pageSize);
      let last: Position | null = null;
      for (const e of page) {
        const pos = toPortPosition(e.position);
        if (!pos || comparePositions(pos, floor) <= 0) continue; // the read is inclusive of its start
        last = pos;
        if (isSystemEvent(e)) continue;
        if (!visit(e)) return;
      }
      if (page.length < pageSize || !last) return;
      floor = last;
    }
  }

  /** Every call's failure in the port's terms (an outage is EventStoreUnavailableError, a 503). */
  const mapped = async <T>(run: () => Promise<T>, streamName?: string): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw toPortError(err, streamName);
    }
  };

  const store: EventStore = {
    kind: 'eventstoredb',

    async append(streamName, events, expected): Promise<AppendResult> {
      const prepared = prepareAppend(streamName, events, expected, randomUUID);
      const callerIds = events.some((e) => e.id !== undefined);
      if (!callerIds) return mapped(() => appendOnce(streamName, prepared, expected, false), streamName);
      const key = `${streamName}\n${prepared.map((e) => e.id).join(',')}`;
      return mapped(() => joinIdenticalAppends(key, () => appendOnce(streamName, prepared, expected, true)), streamName);
    },

    async readStream(streamName, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
      assertStreamName(streamName);
      const backwards = options.direction === 'backwards';
      const from = options.fromRevision;
      const maxCount = options.maxCount;
      try {
        const read = client.readStream(streamName, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: from === undefined ? (backwards ? END : ESDB_START) : BigInt(from),
          // A count of 0 still tells a missing stream from an empty range.
          ...(maxCount === undefined ? {} : { maxCount: Math.max(maxCount, 1) }),
        });
        const out = (await readWithin(read)).flatMap((resolved) => (resolved.event ? [toRecordedEvent(resolved.event)] : []));
        return maxCount !== undefined && maxCount <= 0 ? [] : out;
      } catch (err) {
        // A tombstoned stream has no event to read, as a soft-deleted one reads on the node: not found.
        if (err instanceof EsdbStreamNotFoundError || err instanceof EsdbStreamDeletedError) throw new StreamNotFoundError(streamName);
        throw toPortError(err, streamName);
      }
    },

    async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
      const max = options.maxCount ?? DEFAULT_READ_ALL_MAX;
      if (max <= 0) return [];
      const out: RecordedEvent[] = [];
      await mapped(() =>
        scanAll(options.after ?? START, Math.min(Math.max(max + 1, 64), 4_096), (e) => {
          out.push(toRecordedEvent(e));
          return out.length < max;
        }),
      );
      return out;
    },

    async countAfter(after, cap): Promise<number> {
      const limit = Math.min(cap, COUNT_CAP);
      if (limit <= 0) return 0;
      let n = 0;
      await mapped(() => scanAll(after, Math.min(Math.max(limit + 1, 64), 4_096), () => ++n < limit));
      return n;
    },

    async subscribe(onAppend) {
      let stopped = false;
      let current: AllStreamSubscription | null = null;
      let timer: NodeJS.Timeout | null = null;
      let backoff = RESUBSCRIBE_MIN_MS;
      const wake = () => {
        try {
          onAppend();
        } catch {
          // A wake-up signal must not break the subscription.
        }
      };

      const start = () => {
        if (stopped) return;
        const sub = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
        current = sub;
        let dropped = false;
        let unconfirmed: NodeJS.Timeout | null = null;
        const drop = () => {
          if (dropped) return;
          dropped = true;
          if (unconfirmed) clearTimeout(unconfirmed);
          if (current === sub) current = null;
          sub.unsubscribe().catch(() => undefined);
          if (stopped) return;
          // Events appended while we were away are only signalled by this wake-up after resubscribing.
          timer = setTimeout(() => {
            timer = null;
            start();
            wake();
          }, backoff);
          timer.unref();
          backoff = Math.min(backoff * 2, RESUBSCRIBE_MAX_MS);
        };
        // The subscription has no deadline (it lives on): a node that never confirms it is hung, so start over.
        unconfirmed = setTimeout(drop, deadlineMs);
        unconfirmed.unref();
        sub.on('confirmation', () => {
          if (unconfirmed) clearTimeout(unconfirmed);
          unconfirmed = null;
          backoff = RESUBSCRIBE_MIN_MS;
        });
        sub.on('data', (resolved) => {
          backoff = RESUBSCRIBE_MIN_MS;
          if (!dropped && !stopped && !(resolved.event && isSystemEvent(resolved.event))) wake();
        });
        sub.on('error', drop); // also keeps late stream errors from being unhandled
        sub.on('end', drop);
        sub.on('close', drop);
      };

      const stop = async () => {
        if (stopped) return;
        stopped = true;
        subscriptions.delete(stop);
        if (timer) clearTimeout(timer);
        timer = null;
        const sub = current;
        current = null;
        if (sub) await sub.unsubscribe().catch(() => undefined);
      };
      subscriptions.add(stop);
      start();
      return stop;
    },

    async ping() {
      const read = client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
      await mapped(() => collectWithin(read, Math.min(PING_TIMEOUT_MS, deadlineMs)));
    },

    async close() {
      await Promise.all([...subscriptions].map((stop) => stop()));
      await client.dispose();
    },
  };
  return store;
}
