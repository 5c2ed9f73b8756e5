import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Db } from '../src/sql/db.js';
import { createPgDb } from '../src/sql/pg-db.js';
import { createPgliteDb } from '../src/sql/pglite-db.js';

export interface BenchDb {
  backend: 'pglite' | 'postgres';
  db: Db;
  /** PostgreSQL: the server's address and the bench's own schema. */
  postgres?: { url: string; schema: string };
  /** Another pool on the same schema (postgres only). */
  connect(max: number): Db;
  drop(): Promise<void>;
}

export function benchArgs(extra: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {}) {
  const { values } = parseArgs({
    options: { backend: { type: 'string', default: 'pglite' }, ...extra },
    allowPositionals: false,
  });
  const backend = values.backend;
  if (backend !== 'pglite' && backend !== 'postgres') {
    process.stderr.write('--backend must be pglite or postgres\n');
    process.exit(2);
  }
  return { ...values, backend } as Record<string, string | boolean | undefined> & { backend: 'pglite' | 'postgres' };
}

/** A fresh in-memory PGlite, or a fresh schema in DATABASE_URL that is dropped afterwards. */
export async function openBenchDb(backend: 'pglite' | 'postgres', max = 70): Promise<BenchDb> {
  if (backend === 'pglite') {
    const db = await createPgliteDb();
    return { backend, db, connect: () => db, drop: () => db.close() };
  }
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('--backend postgres needs DATABASE_URL\n');
    process.exit(2);
  }
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pools: Db[] = [];
  const connect = (m: number) => {
    const d = createPgDb({ connectionString: url, schema, max: m, applicationName: 'crm-bench' });
    pools.push(d);
    return d;
  };
  const db = connect(max);
  return {
    backend,
    db,
    postgres: { url, schema },
    connect,
    async drop() {
      for (const p of pools) await p.close().catch(() => {});
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/**
 * CPU time the whole machine spent (user + system, every process: this one and the database), in ms, from
 * /proc/stat; null where there is none. Throughput on a shared 2-core machine swings by tens of percent
 * between runs; CPU per operation is the steadier measure of a change.
 */
export function machineCpuMs(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq] = fields as [number, number, number, number, number, number, number];
    return ((user + nice + system + irq + softirq) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has spent so far, in ms, from /proc; null where there is none. */
export function processCpuMs(pid: number): number | null {
  try {
    // The command name (field 2) may hold spaces: the fields after it start past its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime; USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

type Run = Awaited<ReturnType<typeof runConcurrent>>;

/** Several runs of one scenario as one: throughput over their summed time, percentiles over all latencies. */
export function mergeRuns(runs: Run[]): Run {
  const total = runs.reduce((n, r) => n + r.operations, 0);
  const seconds = runs.reduce((n, r) => n + r.raw.seconds, 0);
  const latencies = runs.flatMap((r) => r.raw.latencies).sort((a, b) => a - b);
  const machine = runs.every((r) => r.raw.machineCpuMs !== null) ? runs.reduce((n, r) => n + r.raw.machineCpuMs!, 0) : null;
  const own = runs.reduce((n, r) => n + r.raw.ownCpuMs, 0);
  return {
    raw: { seconds, latencies, machineCpuMs: machine, ownCpuMs: own },
    operations: total,
    concurrency: runs[0]!.concurrency,
    perSecond: round(total / seconds),
    ...(machine !== null ? { machineCpuMsPerOp: round(machine / total, 3) } : {}),
    processCpuMsPerOp: round(own / total, 3),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
  };
}

/** A run's figures without its raw samples. */
export const printable = <T extends { raw?: unknown }>({ raw: _raw, ...rest }: T) => rest;

/** Runs `workers` loops that each call `op` until `total` operations are done; returns throughput and latency. */
export async function runConcurrent(workers: number, total: number, op: (worker: number, i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const cpuStart = machineCpuMs();
  const ownStart = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const t0 = performance.now();
        await op(w, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpuEnd = machineCpuMs();
  const own = process.cpuUsage(ownStart);
  latencies.sort((a, b) => a - b);
  return {
    // What `mergeRuns` needs to combine runs exactly (not printed: see `printable`).
    raw: {
      seconds,
      latencies,
      machineCpuMs: cpuStart !== null && cpuEnd !== null ? cpuEnd - cpuStart : null,
      ownCpuMs: (own.user + own.system) / 1000,
    },
    operations: total,
    concurrency: workers,
    perSecond: round(total / seconds),
    ...(cpuStart !== null && cpuEnd !== null ? { machineCpuMsPerOp: round((cpuEnd - cpuStart) / total, 3) } : {}),
    // This process alone (the service and the load generator; the database is the rest of the machine's).
    processCpuMsPerOp: round((own.user + own.system) / 1000 / total, 3),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
  };
}

/** Samples resident memory while `fn` runs; returns its peak in MB. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 25);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakRssMb: round(peak / 1024 / 1024) };
  } finally {
    clearInterval(timer);
  }
}

export { round };
