import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Db } from '../sql/db.js';
import { loadMigrations, migrate } from '../sql/migrate.js';
import { batcher } from '../concurrency/batcher.js';
import { coalesced } from '../concurrency/coalesced.js';
import { spacedNotifier } from '../sql/notifier.js';
import {
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type PreparedEvent,
  IdempotencyConflictError,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  START,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  assertStreamName,
  prepareAppend,
} from './port.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const NOTIFY_CHANNEL = 'crm_es_appended';
const NOTIFY_SPACING_MS = 10;
const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';
const MAX_RETRIES = 10;
const MAX_BATCH_ITEMS = 256;
const MAX_BATCHES_IN_FLIGHT = 2;

interface PendingAppend {
  /** Sent before, with an outcome unknown: its ids may be stored already. */
  retried?: boolean;
  streamName: string;
  expected: ExpectedRevision;
  events: PreparedEvent[];
  resolve: (r: AppendResult) => void;
  reject: (err: unknown) => void;
}

interface PendingRead {
  requests: { streamName: string; fromRevision: number }[];
  resolve: (r: Map<string, RecordedEvent[]>) => void;
  reject: (err: unknown) => void;
}

interface BatchRow {
  item: number;
  status: string;
  last_revision: string | null;
  commit_id: string | null;
  last_position: string | null;
  actual: string | null;
}

interface EventRow {
  position: string | number | bigint;
  commit_id: string;
  event_id: string;
  stream_name: string;
  revision: string | number | bigint;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recorded_at: Date | string;
}

const COLUMNS = `position, txid::text AS commit_id, event_id::text, stream_name, revision, type, data, metadata, recorded_at`;

function toRecorded(r: EventRow): RecordedEvent {
  return {
    id: r.event_id,
    streamName: r.stream_name,
    type: r.type,
    data: r.data,
    metadata: r.metadata,
    revision: Number(r.revision),
    position: { commit: BigInt(r.commit_id), prepare: BigInt(r.position) },
    recordedAt: r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at),
  };
}

const byStream = (a: PendingAppend, b: PendingAppend) => (a.streamName < b.streamName ? -1 : a.streamName > b.streamName ? 1 : 0);

const sqlState = (err: unknown) => (typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined);

/** Bytes of a statement the read horizon needs to see: `SELECT * FROM crm_es_append_batch(`. */
const APPEND_STATEMENT_PREFIX = 34;

/**
 * The read horizon recognises appenders by their statement in pg_stat_activity (migration 0003): without
 * track_activities, or with less of the statement kept than its first bytes, it would not see them and
 * readers could skip events. Both are server settings (a superuser may change track_activities for a role or
 * database): checked as this service's role sees them, at start.
 */
async function assertHorizonSettings(db: Db): Promise<void> {
  const { rows } = await db.query<{ tracked: boolean; size: number }>(
    `SELECT current_setting('track_activities')::boolean AS tracked,
            (SELECT setting::int FROM pg_settings WHERE name = 'track_activity_query_size') AS size`,
  );
  const { tracked, size } = rows[0]!;
  if (!tracked || size < APPEND_STATEMENT_PREFIX) {
    throw new EventStoreSettingsError(
      `PostgreSQL must run with track_activities = on and track_activity_query_size >= ${APPEND_STATEMENT_PREFIX} (the defaults); found ${tracked ? 'on' : 'off'} and ${size}`,
    );
  }
}

export class EventStoreSettingsError extends Error {
  override readonly name = 'EventStoreSettingsError';
}

/**
 * Failures that a fresh transaction resolves: two identical appends raced past the duplicate check (the retry
 * finds the winner's events), or the stream order check refused an old transaction id.
 */
const isRetryable = (err: unknown) => sqlState(err) === UNIQUE_VIOLATION || sqlState(err) === SERIALIZATION_FAILURE;

/**
 * The event store on PostgreSQL or PGlite (the same SQL). Appends are one call of `crm_es_append`;
 * `$all` is read in (txid, position) order below `pg_snapshot_xmin`, so no late commit is ever skipped.
 */
export async function createSqlEventStore(db: Db): Promise<EventStore> {
  await migrate(db, 'eventstore', await loadMigrations(MIGRATIONS_DIR));
  if (db.kind === 'postgres') await assertHorizonSettings(db);

  // Appenders NOTIFY after commit, not inside the transaction: a NOTIFY in the transaction takes a global
  // lock at commit and would serialise every commit of the cluster. Subscribers in this process are called
  // directly; the NOTIFY is for other processes (its payload tells a store its own).
  const storeId = randomUUID();
  const local = new Set<() => void>();
  const notify = spacedNotifier(db, NOTIFY_CHANNEL, storeId, NOTIFY_SPACING_MS);
  const wake = () => {
    for (const s of local) s();
    void notify.run();
  };

  // PGlite is one connection and runs in this thread: one batch at a time, started once the requests whose
  // I/O is already due have added theirs (see `batcher`).
  const batching = {
    maxInFlight: db.kind === 'pglite' ? 1 : MAX_BATCHES_IN_FLIGHT,
    maxItems: MAX_BATCH_ITEMS,
    start: db.kind === 'pglite' ? ('immediate' as const) : ('microtask' as const),
  };

  // Group commit: appends that arrive while earlier ones are in flight go together in one call and one
  // transaction. Items are applied in stream order (the sort is stable: one stream's appends keep their arrival
  // order), so two concurrent batches lock their streams in the same order and cannot deadlock.
  const appends = batcher<PendingAppend>((batch) => runBatch(batch), { ...batching, order: byStream });

  // The catch-up reads of concurrent commands (every send reads its outbox, allowlist, rules...) go together
  // in one query the same way: a batch starts after its callers asked, so each still sees every commit before.
  const forwardReads = batcher<PendingRead>(async (reads) => {
    try {
      const from = new Map<string, number>();
      for (const r of reads)
        for (const q of r.requests) from.set(q.streamName, Math.min(q.fromRevision, from.get(q.streamName) ?? Infinity));
      const { rows } = await db.query<EventRow>(
        // LATERAL: an index probe per stream whatever the planner thinks of the list (as a join, a long list
        // made it scan the whole table).
        `SELECT ${COLUMNS}
             FROM unnest($1::text[], $2::bigint[]) AS r(s, from_rev)
             CROSS JOIN LATERAL (SELECT * FROM crm_es_events x WHERE x.stream_name = r.s AND x.revision >= r.from_rev ORDER BY x.revision) AS e
            ORDER BY stream_name, revision`,
        [[...from.keys()], [...from.values()]],
      );
      const byStreamName = new Map<string, RecordedEvent[]>();
      for (const row of rows) {
        const list = byStreamName.get(row.stream_name) ?? [];
        list.push(toRecorded(row));
        byStreamName.set(row.stream_name, list);
      }
      for (const r of reads) {
        r.resolve(
          new Map(
            r.requests.map((q) => [q.streamName, (byStreamName.get(q.streamName) ?? []).filter((e) => e.revision >= q.fromRevision)]),
          ),
        );
      }
    } catch (err) {
      for (const r of reads) r.reject(err);
    }
  }, batching);

  async function runBatch(batch: PendingAppend[]): Promise<void> {
    let rows: BatchRow[] | null = null;
    for (let attempt = 1; rows === null; attempt++) {
      try {
        rows = await callBatch(batch);
      } catch (err) {
        for (const p of batch) p.retried = true;
        if (batch.length > 1) {
          // One item's failure must not fail the others: each goes again in a transaction of its own.
          await Promise.all(batch.map((p) => runBatch([p])));
          return;
        }
        if (!isRetryable(err) || attempt >= MAX_RETRIES) {
          batch[0]!.reject(err);
          return;
        }
      }
    }
    let appended = false;
    for (const row of rows) {
      const p = batch[row.item - 1]!;
      switch (row.status) {
        case 'ok':
        case 'duplicate':
          appended ||= row.status === 'ok';
          p.resolve({
            nextExpectedRevision: Number(row.last_revision),
            position: { commit: BigInt(row.commit_id!), prepare: BigInt(row.last_position!) },
            duplicate: row.status === 'duplicate',
          });
          break;
        case 'conflict': {
          const actual = Number(row.actual);
          p.reject(new WrongExpectedRevisionError(p.streamName, p.expected, actual < 0 ? 'no_stream' : actual));
          break;
        }
        default:
          p.reject(new IdempotencyConflictError(p.streamName));
      }
    }
    if (appended) wake();
  }

  function callBatch(batch: PendingAppend[]) {
    const events = batch.flatMap((p) => p.events);
    return db
      .query<BatchRow>(
        // The function's name first: the read horizon recognises appenders by it (see migration 0003).
        `SELECT * FROM crm_es_append_batch($1::text[], $2::text[], $3::int[], $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[], $8::boolean[])`,
        [
          batch.map((p) => p.streamName),
          batch.map((p) => String(p.expected)),
          batch.map((p) => p.events.length),
          events.map((e) => e.id),
          events.map((e) => e.type),
          events.map((e) => JSON.stringify(e.data)),
          events.map((e) => JSON.stringify(e.metadata)),
          // Only a first attempt can skip the duplicate lookup: a retry may follow a commit whose reply was lost.
          batch.map((p) => !p.retried && p.events.every((e) => e.generated)),
        ],
      )
      .then((r) => r.rows);
  }

  // The read horizon costs a scan of the server's sessions: concurrent readers share one computation, and a
  // caller joins the next computation to start, never one already running, so each still gets a horizon taken
  // after it asked and sees every append that committed before its call.
  const horizon = coalesced(() => db.query<{ h: string }>(`SELECT crm_es_read_horizon()::text AS h`).then((r) => r.rows[0]!.h));

  return {
    kind: db.kind,

    append(streamName, events, expected): Promise<AppendResult> {
      let prepared: PreparedEvent[];
      try {
        prepared = prepareAppend(streamName, events, expected, randomUUID);
      } catch (err) {
        return Promise.reject(err);
      }
      return new Promise<AppendResult>((resolve, reject) => {
        appends.add({ streamName, expected, events: prepared, resolve, reject });
      });
    },

    async readStream(streamName, options: ReadStreamOptions = {}) {
      assertStreamName(streamName);
      const backwards = options.direction === 'backwards';
      const limit = options.maxCount ?? 1_000_000;
      const from = options.fromRevision;
      const params: unknown[] = [streamName, limit];
      let where = 'stream_name = $1';
      if (from !== undefined) {
        params.push(from);
        where += backwards ? ' AND revision <= $3' : ' AND revision >= $3';
      }
      const { rows } = await db.query<EventRow>(
        `SELECT ${COLUMNS} FROM crm_es_events WHERE ${where} ORDER BY revision ${backwards ? 'DESC' : 'ASC'} LIMIT $2`,
        params,
      );
      if (rows.length === 0) {
        const exists = await db.query(`SELECT 1 FROM crm_es_streams WHERE stream_name = $1`, [streamName]);
        if (exists.rows.length === 0) throw new StreamNotFoundError(streamName);
      }
      return rows.map(toRecorded);
    },

    async readAll(options: ReadAllOptions = {}) {
      const after: Position = options.after ?? START;
      // Two statements on purpose: the read's snapshot must be taken after the horizon was computed.
      const horizonXid = await horizon.run();
      const { rows } = await db.query<EventRow>(
        `SELECT ${COLUMNS} FROM crm_es_events
          WHERE (txid, position) > ($1::text::xid8, $2::bigint) AND txid < $4::text::xid8
          ORDER BY txid, position LIMIT $3`,
        [after.commit.toString(), after.prepare.toString(), options.maxCount ?? 1000, horizonXid],
      );
      return rows.map(toRecorded);
    },

    async countAfter(after, cap) {
      const { rows } = await db.query<{ n: string | number }>(
        `SELECT count(*)::int AS n FROM (SELECT 1 FROM crm_es_events
          WHERE (txid, position) > ($1::text::xid8, $2::bigint) LIMIT $3) AS lagging`,
        [after.commit.toString(), after.prepare.toString(), cap],
      );
      return Number(rows[0]!.n);
    },

    readStreamsForward(requests) {
      for (const r of requests) assertStreamName(r.streamName);
      return new Promise((resolve, reject) => forwardReads.add({ requests, resolve, reject }));
    },

    async oldestAfter(after) {
      const { rows } = await db.query<{ at: Date | string | null }>(
        `SELECT min(recorded_at) AS at FROM crm_es_events WHERE (txid, position) > ($1::text::xid8, $2::bigint)`,
        [after.commit.toString(), after.prepare.toString()],
      );
      const at = rows[0]?.at;
      return at ? new Date(at) : null;
    },

    async subscribe(onAppend) {
      local.add(onAppend);
      const unlisten = await db.listen(NOTIFY_CHANNEL, (payload) => {
        if (payload !== storeId) onAppend(); // this store's own appends woke it already
      });
      return async () => {
        local.delete(onAppend);
        await unlisten();
      };
    },

    async ping() {
      await db.query('SELECT 1');
    },

    async close() {
      await appends.idle();
      await notify.settled();
    },
  };
}
