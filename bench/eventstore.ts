/**
 * Event store benchmark: `npm run bench:eventstore -- --backend pglite|postgres [--appends N] [--rebuild-events N]`.
 * Postgres comes from DATABASE_URL; the benchmark works in a fresh schema and drops it. Prints one JSON object.
 */
import { randomUUID } from 'node:crypto';
import { START } from '../src/eventstore/port.js';
import { createSqlEventStore } from '../src/eventstore/sql-event-store.js';
import { ProjectionEngine } from '../src/projections/engine.js';
import type { Projection } from '../src/projections/projection.js';
import { loadMigrations, migrate } from '../src/sql/migrate.js';
import { benchArgs, openBenchDb, round, runConcurrent, withPeakRss } from './support.js';

const args = benchArgs({ appends: { type: 'string', default: '20000' }, 'rebuild-events': { type: 'string', default: '200000' } });
const APPENDS = Number(args.appends);
const REBUILD_EVENTS = Number(args['rebuild-events']);
const STREAMS = 10_000;

const bench = await openBenchDb(args.backend);
const { db } = bench;
const store = await createSqlEventStore(db);
await migrate(db, 'read_models', await loadMigrations(new URL('../src/projections/migrations/', import.meta.url).pathname));

/** Single-event appends with the exact expected revision, each worker on its own streams. */
async function appends(concurrency: number, total: number) {
  const prefix = randomUUID().slice(0, 8);
  const revisions = new Map<string, number>();
  return runConcurrent(concurrency, total, async (w, i) => {
    const name = `bench-${prefix}.${w}.${i % Math.max(1, Math.floor(STREAMS / concurrency))}`;
    const expected = revisions.get(name);
    const r = await store.append(name, [{ type: 'Benched', data: { w, i } }], expected === undefined ? 'no_stream' : expected);
    revisions.set(name, r.nextExpectedRevision);
  });
}

/** The raw rate this database reaches for single-row autocommit INSERTs at the same concurrency. */
async function rawInserts(concurrency: number, total: number) {
  await db.exec(`CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)`);
  return runConcurrent(concurrency, total, async (w, i) => {
    await db.query(`INSERT INTO bench_raw (payload) VALUES ($1)`, [JSON.stringify({ w, i })]);
  });
}

async function readAllThroughput() {
  let cp = START;
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    const batch = await store.readAll({ after: cp, maxCount: 2000 });
    if (batch.length === 0) break;
    n += batch.length;
    cp = batch[batch.length - 1]!.position;
  }
  const s = (performance.now() - t0) / 1000;
  return { events: n, perSecond: round(n / s) };
}

/** Writes the rebuild's events in bulk (how they got there is not what is measured). */
async function seedLog(count: number) {
  const CHUNK = 50_000;
  for (let from = 0; from < count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK) - 1;
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO crm_es_events (event_id, stream_name, revision, type, data, metadata)
         SELECT gen_random_uuid(), 'seed-' || (g / 10), g % 10, 'Seeded', jsonb_build_object('n', g, 'label', 'row ' || g), '{}'::jsonb
           FROM generate_series($1::int, $2::int) AS g`,
        [from, to],
      );
      await tx.query(
        `INSERT INTO crm_es_streams (stream_name, revision)
         SELECT 'seed-' || s, 9 FROM generate_series($1::int / 10, $2::int / 10) AS s ON CONFLICT (stream_name) DO NOTHING`,
        [from, to],
      );
    });
  }
}

const simpleTable: Projection = {
  name: 'bench_simple',
  tables: ['bench_simple'],
  eventTypes: ['Seeded'],
  async apply(events, { tx, table }) {
    await tx.query(
      `INSERT INTO ${table('bench_simple')} (event_id, n, label)
       SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[])
       ON CONFLICT (event_id) DO UPDATE SET n = excluded.n, label = excluded.label`,
      [events.map((e) => e.id), events.map((e) => (e.data as { n: number }).n), events.map((e) => (e.data as { label: string }).label)],
    );
  },
};

try {
  const appendsAt1 = await appends(1, Math.min(APPENDS, 3000));
  const appendsAt64 = await appends(64, APPENDS);
  const rawAt64 = await rawInserts(64, APPENDS);
  const readAll = await readAllThroughput();

  await seedLog(REBUILD_EVENTS);
  await db.exec(`CREATE TABLE bench_simple (event_id uuid PRIMARY KEY, n integer NOT NULL, label text NOT NULL)`);
  const engine = new ProjectionEngine({ store, db, projections: [simpleTable] });
  await db.query(`INSERT INTO crm_projection_checkpoints (name) VALUES ('bench_simple') ON CONFLICT DO NOTHING`);
  if (global.gc) global.gc();
  const t0 = performance.now();
  const { peakRssMb } = await withPeakRss(() => engine.rebuild('bench_simple'));
  const seconds = (performance.now() - t0) / 1000;
  const rows = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM bench_simple`)).rows[0]!.n);

  const out = {
    benchmark: 'eventstore',
    backend: args.backend,
    cores: (await import('node:os')).cpus().length,
    appends: {
      concurrency1: appendsAt1,
      concurrency64: appendsAt64,
      rawSingleRowInsertConcurrency64: rawAt64,
      ratioToRawInserts: round(appendsAt64.perSecond / rawAt64.perSecond, 3),
    },
    readAll,
    rebuild: { events: REBUILD_EVENTS, rows, seconds: round(seconds, 2), perSecond: round(REBUILD_EVENTS / seconds), peakRssMb },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await store.close();
  await bench.drop();
}
