import { randomUUID } from 'node:crypto';
import {
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  IdempotencyConflictError,
  type Position,
  type PreparedEvent,
  type RecordedEvent,
  START,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  assertStreamName,
  comparePositions,
  prepareAppend,
} from './port.js';

/** The same page size as the other adapters, so a reader that forgets maxCount pages alike on every store. */
const DEFAULT_READ_ALL_MAX = 1_000;

export interface InMemoryEventStoreOptions {
  /** The clock of `recordedAt` (tests of lag give their own). */
  now?: () => Date;
}

/**
 * The event store in this process's memory, for tests that need a store but no database: it passes the same
 * contract as the SQL and EventStoreDB adapters (test/eventstore/contract.ts), and decides each append as the
 * SQL append function does (0005_set_based_append.sql): an append is decided and written in one synchronous
 * step, so appends never interleave and every one is a transaction of its own. Nothing survives the process.
 */
export function createInMemoryEventStore(options: InMemoryEventStoreOptions = {}): EventStore {
  const now = options.now ?? (() => new Date());
  const log: RecordedEvent[] = [];
  const streams = new Map<string, RecordedEvent[]>();
  const byId = new Map<string, RecordedEvent>();
  const subscribers = new Set<() => void>();
  let commits = 0n;

  // Positions grow with the log, so the first event after a position is found by bisection.
  function indexAfter(after: Position): number {
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (comparePositions(log[mid]!.position, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function write(streamName: string, events: PreparedEvent[], stream: RecordedEvent[]): AppendResult {
    const commit = ++commits;
    const recordedAt = now();
    for (const e of events) {
      const recorded: RecordedEvent = {
        id: e.id,
        streamName,
        type: e.type,
        data: e.data,
        metadata: e.metadata,
        revision: stream.length,
        position: { commit, prepare: BigInt(log.length + 1) },
        recordedAt,
      };
      stream.push(recorded);
      log.push(recorded);
      byId.set(recorded.id, recorded);
    }
    streams.set(streamName, stream);
    const last = stream.at(-1)!;
    return { nextExpectedRevision: last.revision, position: last.position, duplicate: false };
  }

  /** The first result again when every id is stored in this stream; a refusal when only some are, or elsewhere. */
  function earlierResult(streamName: string, events: PreparedEvent[]): AppendResult | null {
    const stored = events.map((e) => byId.get(e.id)).filter((e) => e !== undefined);
    if (stored.length === 0) return null;
    if (stored.length < events.length || stored.some((e) => e.streamName !== streamName)) {
      throw new IdempotencyConflictError(streamName);
    }
    const last = stored.reduce((a, b) => (b.revision > a.revision ? b : a));
    return { nextExpectedRevision: last.revision, position: last.position, duplicate: true };
  }

  function assertExpected(streamName: string, expected: ExpectedRevision, stream: RecordedEvent[] | undefined): void {
    const current = stream ? stream.length - 1 : undefined;
    const holds =
      expected === 'any' ||
      (expected === 'no_stream' && current === undefined) ||
      (expected === 'stream_exists' && current !== undefined) ||
      expected === current;
    if (!holds) throw new WrongExpectedRevisionError(streamName, expected, current ?? 'no_stream');
  }

  function wake(): void {
    for (const s of subscribers) s();
  }

  return {
    kind: 'memory',

    async append(streamName, events, expected) {
      const prepared = prepareAppend(streamName, events, expected, randomUUID);
      // As in the SQL function, a retry is recognised before its expected revision is checked: the first
      // attempt moved the stream on, and the retry must still get the first result.
      const earlier = earlierResult(streamName, prepared);
      if (earlier) return copyResult(earlier);
      const stream = streams.get(streamName);
      assertExpected(streamName, expected, stream);
      const result = write(streamName, prepared, stream ?? []);
      // Queued before this function returns, so subscribers run before the appender resumes, as on SQL, and a
      // subscriber's exception surfaces as uncaught instead of failing an append that is stored.
      queueMicrotask(wake);
      return copyResult(result);
    },

    async readStream(streamName, options = {}) {
      assertStreamName(streamName);
      const stream = streams.get(streamName);
      if (!stream) throw new StreamNotFoundError(streamName);
      const max = Math.max(options.maxCount ?? Infinity, 0);
      if (options.direction === 'backwards') {
        const from = Math.min(options.fromRevision ?? stream.length - 1, stream.length - 1);
        const picked: RecordedEvent[] = [];
        for (let r = from; r >= 0 && picked.length < max; r--) picked.push(stream[r]!);
        return picked.map(copyEvent);
      }
      const from = Math.max(options.fromRevision ?? 0, 0);
      return stream.slice(from, from + max).map(copyEvent);
    },

    async readAll(options = {}) {
      const start = indexAfter(options.after ?? START);
      return log.slice(start, start + Math.max(options.maxCount ?? DEFAULT_READ_ALL_MAX, 0)).map(copyEvent);
    },

    async countAfter(after, cap) {
      return Math.max(0, Math.min(cap, log.length - indexAfter(after)));
    },

    async readStreamsForward(requests) {
      for (const r of requests) assertStreamName(r.streamName);
      return new Map(
        requests.map((r) => [r.streamName, (streams.get(r.streamName) ?? []).slice(Math.max(r.fromRevision, 0)).map(copyEvent)]),
      );
    },

    async oldestAfter(after) {
      let oldest: Date | null = null;
      for (let i = indexAfter(after); i < log.length; i++) {
        const at = log[i]!.recordedAt;
        if (!oldest || at < oldest) oldest = at;
      }
      return oldest && new Date(oldest);
    },

    async subscribe(onAppend) {
      // A Set would merge two subscriptions of one function; each subscription is its own.
      const subscription = () => onAppend();
      subscribers.add(subscription);
      return async () => {
        subscribers.delete(subscription);
      };
    },

    async ping() {},

    async close() {},
  };
}

// Callers get copies, as from a database: a caller that changes what it read cannot change the log.
function copyEvent(e: RecordedEvent): RecordedEvent {
  return {
    ...e,
    data: structuredClone(e.data),
    metadata: structuredClone(e.metadata),
    position: { ...e.position },
    recordedAt: new Date(e.recordedAt),
  };
}

function copyResult(r: AppendResult): AppendResult {
  return { ...r, position: { ...r.position } };
}
