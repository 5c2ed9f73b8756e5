import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Db } from '../sql/db.js';
import { loadMigrations, migrate } from '../sql/migrate.js';
import {
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
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
const UNIQUE_VIOLATION = '23505';

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

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === UNIQUE_VIOLATION;
}

/**
 * The event store on PostgreSQL or PGlite (the same SQL). Appends are one call of `crm_es_append`;
 * `$all` is read in (txid, position) order below `pg_snapshot_xmin`, so no late commit is ever skipped.
 */
export async function createSqlEventStore(db: Db): Promise<EventStore> {
  await migrate(db, 'eventstore', await loadMigrations(MIGRATIONS_DIR));

  // Appenders NOTIFY after commit, not inside the transaction: a NOTIFY in the transaction takes a global
  // lock at commit and would serialise every commit of the cluster. Coalesced: one in flight, one pending.
  let notifying: Promise<void> | null = null;
  let notifyAgain = false;
  const wake = () => {
    if (notifying) {
      notifyAgain = true;
      return;
    }
    notifying = db
      .query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`)
      .then(
        () => undefined,
        () => undefined, // readers also poll; a lost wake-up only delays them
      )
      .finally(() => {
        notifying = null;
        if (notifyAgain) {
          notifyAgain = false;
          wake();
        }
      });
  };

  async function callAppend(streamName: string, expected: ExpectedRevision, prepared: ReturnType<typeof prepareAppend>) {
    return db.query<{ status: string; last_revision: string | null; commit_id: string | null; last_position: string | null; actual: string | null }>(
      `SELECT status, last_revision::text, commit_id, last_position::text, actual::text
         FROM crm_es_append($1, $2, $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])`,
      [
        streamName,
        String(expected),
        prepared.map((e) => e.id),
        prepared.map((e) => e.type),
        prepared.map((e) => JSON.stringify(e.data)),
        prepared.map((e) => JSON.stringify(e.metadata)),
      ],
    );
  }

  return {
    kind: db.kind,

    async append(streamName, events, expected): Promise<AppendResult> {
      const prepared = prepareAppend(streamName, events, expected, randomUUID);
      let result;
      try {
        result = await callAppend(streamName, expected, prepared);
      } catch (err) {
        // Two identical appends raced past the duplicate check; the loser's retry now finds the winner's events.
        if (!isUniqueViolation(err)) throw err;
        result = await callAppend(streamName, expected, prepared);
      }
      const row = result.rows[0]!;
      switch (row.status) {
        case 'ok':
        case 'duplicate':
          if (row.status === 'ok') wake();
          return {
            nextExpectedRevision: Number(row.last_revision),
            position: { commit: BigInt(row.commit_id!), prepare: BigInt(row.last_position!) },
            duplicate: row.status === 'duplicate',
          };
        case 'conflict': {
          const actual = Number(row.actual);
          throw new WrongExpectedRevisionError(streamName, expected, actual < 0 ? 'no_stream' : actual);
        }
        default:
          throw new IdempotencyConflictError(streamName);
      }
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
      const { rows } = await db.query<EventRow>(
        `SELECT ${COLUMNS} FROM crm_es_events
          WHERE (txid, position) > ($1::text::xid8, $2::bigint)
            AND txid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY txid, position LIMIT $3`,
        [after.commit.toString(), after.prepare.toString(), options.maxCount ?? 1000],
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

    subscribe(onAppend) {
      return db.listen(NOTIFY_CHANNEL, onAppend);
    },

    async ping() {
      await db.query('SELECT 1');
    },

    async close() {
      await notifying;
    },
  };
}
