/**
 * Dispatcher benchmark: `npm run bench:dispatch -- --backend pglite|postgres [--sends N] [--only hot|spread|allowlist|limits]
 * [--allowlist-entries N]`.
 * The channel adapter accepts instantly (bench only: it is wired here, never reachable over HTTP); everything
 * else is the real pipeline: allowlist, approval rules, quota reservation, events, projections.
 * Postgres comes from DATABASE_URL, in a fresh schema dropped afterwards. Prints one JSON object.
 */
import type { ChannelAdapter } from '../src/channels/port.js';
import { LOCAL_OPERATOR } from '../src/commands/actor.js';
import { ALLOWLIST_LIMITS } from '../src/domain/allowlist.js';
import type { QuotaLimit } from '../src/domain/quota-limits.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { createRuntime } from '../src/runtime.js';
import { benchCompany } from './company.js';
import { pgbenchInsertTps } from './pgbench.js';
import { benchArgs, mergeRuns, openBenchDb, printable, round, runConcurrent } from './support.js';

const args = benchArgs({
  sends: { type: 'string', default: '5000' },
  only: { type: 'string' },
  'allowlist-entries': { type: 'string', default: String(ALLOWLIST_LIMITS.entries) },
});
const only = args.only as string | undefined; // hot | spread | allowlist | limits: one scenario alone (for profiling)
const SENDS = Number(args.sends);
const ALLOWLIST_ENTRIES = Number(args['allowlist-entries']);
const CONCURRENCY = 64;
const WARM_UP_SENDS = 1000;

let accepted = 0;
const instant: ChannelAdapter = {
  async send() {
    accepted++;
    return { providerMessageId: `bench-${accepted}` };
  },
};

const bench = await openBenchDb(args.backend);
const config = {
  ...loadConfig({}),
  logLevel: 'silent' as const,
  secretsMasterKey: Buffer.alloc(32, 9).toString('base64'),
  dataDir: '/tmp/crm-bench-unused',
};
const rt = await createRuntime(config, silentLogger, { db: bench.db, adapters: { email: instant } });
await rt.engine.start();

const company = (credentials: number, cap: number, allowlist = 0, limits: QuotaLimit[] = []) =>
  benchCompany(rt, { credentials, cap, allowlist, limits });

// Three limits on one credential, none of them reached: what counting them costs on the hot path.
const THREE_LIMITS: QuotaLimit[] = [
  { max: 1_000_000, per: 'minute', unit: 'sends' },
  { max: 1_000_000, per: 'hour', unit: 'recipients' },
  { max: 1_000_000, per: '7d', unit: 'sends' },
];
const WEEKLY_MAX = 300;

/**
 * PostgreSQL's committed transactions and statements so far, over every backend of the database (its cumulative
 * statistics, which backends flush at most once a second: read after a pause). Null on PGlite.
 */
async function databaseWork(): Promise<{ commits: number; rowsInserted: number } | null> {
  if (bench.backend !== 'postgres') return null;
  await new Promise((r) => setTimeout(r, 1500));
  const { rows } = await bench.db.query<{ commits: string; rows_inserted: string }>(
    'SELECT xact_commit AS commits, tup_inserted AS rows_inserted FROM pg_stat_database WHERE datname = current_database()',
  );
  return { commits: Number(rows[0]!.commits), rowsInserted: Number(rows[0]!.rows_inserted) };
}

async function sends(c: { companyId: string; outboxes: string[] }, total: number) {
  const statuses: Record<string, number> = {};
  const before = await databaseWork();
  const stats = await runConcurrent(CONCURRENCY, total, async (_w, i) => {
    const { result } = await rt.dispatcher.send(
      c.companyId,
      {
        channel: 'email',
        outboxId: c.outboxes[i % c.outboxes.length]!,
        to: `r${i}@example.org`,
        payload: { subject: 'Hi', text: 'Bench' },
      },
      LOCAL_OPERATOR,
    );
    statuses[result.status] = (statuses[result.status] ?? 0) + 1;
  });
  const after = await databaseWork();
  // Per send, what the database was asked to commit and insert (every table: events, read models, checkpoints).
  const perSend =
    before && after
      ? {
          commitsPerSend: round((after.commits - before.commits) / total, 2),
          rowsInsertedPerSend: round((after.rowsInserted - before.rowsInserted) / total, 2),
        }
      : {};
  return { ...stats, ...perSend, statuses };
}

type Run = Awaited<ReturnType<typeof sends>>;

/** Parts of one scenario as one run: their times, latencies and database work added up. */
function combine(parts: Run[]): Run {
  const total = parts.reduce((n, p) => n + p.operations, 0);
  const statuses: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const weighted = (key: 'commitsPerSend' | 'rowsInsertedPerSend') =>
    parts.every((p) => p[key] !== undefined) ? { [key]: round(parts.reduce((n, p) => n + p[key]! * p.operations, 0) / total, 2) } : {};
  return { ...mergeRuns(parts), ...weighted('commitsPerSend'), ...weighted('rowsInsertedPerSend'), statuses };
}

try {
  const skipped = { operations: 0, perSecond: 0, statuses: {} as Record<string, number>, skipped: true, raw: undefined };
  // Not measured: the first thousand sends of a process run while V8 compiles the send path (the scenario run
  // first was the slowest, whichever it was), so the scenarios compare the warm pipeline.
  const warmUp = await sends(await company(10, 1_000_000), WARM_UP_SENDS);
  // In halves, hot, spread, spread, hot: a process still speeding up or a machine slowing down weighs on both
  // alike (run one after the other, the later scenarios were the faster: the ratio leaned towards the second).
  const hotCompany = only && only !== 'hot' ? null : await company(1, 1_000_000);
  const spreadCompany = only && only !== 'spread' ? null : await company(100, 1_000_000);
  const half = Math.floor(SENDS / 2);
  const hotParts: Run[] = [];
  const spreadParts: Run[] = [];
  for (const [c, parts, n] of [
    [hotCompany, hotParts, half],
    [spreadCompany, spreadParts, half],
    [spreadCompany, spreadParts, SENDS - half],
    [hotCompany, hotParts, SENDS - half],
  ] as const)
    if (c) parts.push(await sends(c, n));
  const hot = hotParts.length ? combine(hotParts) : skipped;
  const spread = spreadParts.length ? combine(spreadParts) : skipped;
  let bigAllowlist: Record<string, unknown> = skipped;
  if (!only || only === 'allowlist') {
    const c = await company(1, 1_000_000, ALLOWLIST_ENTRIES);
    bigAllowlist = { entries: ALLOWLIST_ENTRIES, msPerAdd: c.allowlistAddMs, ...printable(await sends(c, SENDS)) };
  }
  let threeLimits: Record<string, unknown> = skipped;
  let limitCheck: Record<string, number> | null = null;
  if (!only || only === 'limits') {
    const limited = await sends(await company(1, 1_000_000, 0, THREE_LIMITS), SENDS);
    threeLimits = {
      limits: THREE_LIMITS,
      ...printable(limited),
      ...(hot.perSecond ? { perSecondVsHot: round(limited.perSecond / hot.perSecond, 2) } : {}),
    };
    const weekly = await sends(await company(1, 1_000_000, 0, [{ max: WEEKLY_MAX, per: '7d', unit: 'sends' }]), 1000);
    limitCheck = {
      weeklyMax: WEEKLY_MAX,
      attempted: 1000,
      sent: weekly.statuses.sent ?? 0,
      sendsOverLimit: Math.max(0, (weekly.statuses.sent ?? 0) - WEEKLY_MAX),
    };
  }
  const CAP = 500;
  const before = accepted;
  const capped = await sends(await company(1, CAP), 2000);
  const sentOverCap = Math.max(0, (capped.statuses.sent ?? 0) - CAP);
  // The yardstick of the target (in-process hot >= 0.35 x pgbench), measured in this run, last: its
  // 64 connections' writes would otherwise leave checkpoints and vacuum to the scenarios after it.
  const pgbench = bench.postgres && !only ? await pgbenchInsertTps(bench.postgres.url, bench.postgres.schema) : null;
  const out = {
    benchmark: 'dispatch',
    backend: args.backend,
    cores: (await import('node:os')).cpus().length,
    warmUp: { operations: warmUp.operations, perSecond: warmUp.perSecond },
    hotCredential: printable(hot),
    hundredCredentials: printable(spread),
    ...(hot.perSecond && spread.perSecond ? { hundredVsHot: round(spread.perSecond / hot.perSecond, 2) } : {}),
    pgbench,
    ...(pgbench && hot.perSecond ? { hotVsPgbench: round(hot.perSecond / pgbench.tps, 2) } : {}),
    // One hot credential whose company's allowlist holds ALLOWLIST_ENTRIES entries, the matching one last.
    bigAllowlist,
    // One hot credential under three limits (per minute, distinct recipients per hour, per rolling 7 days).
    threeLimits,
    limitCheck,
    capCheck: { cap: CAP, attempted: 2000, sent: capped.statuses.sent ?? 0, adapterCalls: accepted - before, sendsOverCap: sentOverCap },
    sendsOverCap: sentOverCap + (limitCheck?.sendsOverLimit ?? 0),
    note: `${round(hot.perSecond)} sends/s on one hot credential at ${CONCURRENCY} concurrent callers`,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await rt.close();
  await bench.drop();
}
