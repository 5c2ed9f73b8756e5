/**
 * Sequence scheduler benchmark: `npm run bench:sequences -- --backend pglite|postgres [--enrollments N]
 * [--concurrency C] [--batch B]`.
 * One company, one email outbox (the instant adapter of bench/dispatch.ts), allowlist `*`, an auto-approve rule,
 * and a two-step sequence whose first step is due at once (PT0S) and whose second is days away, so that a pass
 * only ever sends step 1. N contacts are enrolled (1,000 per `enroll` call), then scheduler passes run back to back
 * until every step 1 is decided. The same N sends straight through the dispatcher (bench/dispatch.ts's
 * hotCredential scenario: one credential, 64 callers), before and after, give the figure the scheduler is compared with.
 * Postgres comes from DATABASE_URL, in a fresh schema dropped afterwards. Prints one JSON object.
 */
import type { ChannelAdapter } from '../src/channels/port.js';
import { LOCAL_OPERATOR } from '../src/commands/actor.js';
import { enroll } from '../src/commands/enrollments.js';
import { createSequence } from '../src/commands/sequences.js';
import { loadConfig } from '../src/config.js';
import { type Position, comparePositions } from '../src/eventstore/port.js';
import type { Db, Queryable } from '../src/sql/db.js';
import { silentLogger } from '../src/logger.js';
import { createRuntime } from '../src/runtime.js';
import { SCHEDULER_DEFAULTS, SequenceScheduler } from '../src/sequences/scheduler.js';
import { benchCompany } from './company.js';
import { benchArgs, machineCpuMs, openBenchDb, percentile, round, runConcurrent } from './support.js';

const RUNTIME_CONCURRENCY = SCHEDULER_DEFAULTS.concurrency; // the runtime scheduler's default

const args = benchArgs({
  enrollments: { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: String(RUNTIME_CONCURRENCY) },
  batch: { type: 'string' },
});
const N = Number(args.enrollments);
const CONCURRENCY = Number(args.concurrency);
// The runtime's 500 per pass would make 20 passes of 10,000, each starting on a read model that has not yet
// caught up with the last pass's outcomes: its first rows are the ones just sent, loaded again and skipped, so
// the figure would be of the batch size and the projection lag, not of sending. One pass over all N measures
// the scheduler's sending; --batch 500 measures the runtime's pass size instead. The scheduler is built here
// rather than taken from rt.sequences (same deps, no leadership, which runOnce ignores) so that its store, read
// model and dispatcher can be timed: `profile` is where a step's time goes.
const BATCH = args.batch ? Number(args.batch) : N;
const PER_CALL = 1000;
const DISPATCH_CONCURRENCY = 64;

/** Adapter calls: per activity (how many), and per recipient the time of the first (when its send was decided). */
const callsPerActivity = new Map<string, number>();
const decidedAt = new Map<string, number>();
let recording = false;
let accepted = 0;
const instant: ChannelAdapter = {
  async send(_outbox, _credential, message) {
    accepted++;
    if (recording) {
      callsPerActivity.set(message.activityId, (callsPerActivity.get(message.activityId) ?? 0) + 1);
      if (!decidedAt.has(message.to)) decidedAt.set(message.to, Date.now());
    }
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
/** SQL statements and transactions of the whole process (service, projections), by statement: where the database's time goes. */
let sql = new Map<string, number>();
let transactions = 0;
const counting = (q: Queryable): Queryable => ({
  query: (text, params) => {
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 70);
    sql.set(key, (sql.get(key) ?? 0) + 1);
    return q.query(text, params);
  },
  exec: (text) => q.exec(text),
});
const countedDb: Db = {
  ...counting(bench.db),
  kind: bench.db.kind,
  transaction: (fn) => {
    transactions++;
    return bench.db.transaction((tx) => fn(counting(tx)));
  },
  session: (fn) => bench.db.session((s) => fn(counting(s))),
  listen: (channel, on) => bench.db.listen(channel, on),
  close: () => bench.db.close(),
};
function sqlSince(sends: number) {
  const total = [...sql.values()].reduce((a, b) => a + b, 0);
  const top = [...sql.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const out = {
    statementsPerSend: round(total / sends, 2),
    transactionsPerSend: round(transactions / sends, 2),
    top: Object.fromEntries(top.map(([k, n]) => [k, round(n / sends, 2)])),
  };
  sql = new Map();
  transactions = 0;
  return out;
}
const rt = await createRuntime(config, silentLogger, { db: countedDb, adapters: { email: instant } });
await rt.engine.start();
const now = () => new Date();
/** Time spent in each method of the scheduler's own deps, summed over its workers. */
const spent: Record<string, { calls: number; ms: number }> = {};
function timed<T extends object>(target: T, label: string): T {
  return new Proxy(target, {
    get(t, key) {
      const v: unknown = Reflect.get(t, key, t);
      if (typeof v !== 'function') return v;
      return async (...a: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (v as (...x: unknown[]) => Promise<unknown>).apply(t, a);
        } finally {
          const s = (spent[`${label}.${String(key)}`] ??= { calls: 0, ms: 0 });
          s.calls++;
          s.ms += performance.now() - t0;
        }
      };
    },
  });
}
const waitFor = async (p: Position | null) => {
  if (p && !(await rt.engine.waitFor(p, { timeoutMs: 120_000 }))) throw new Error('projections did not catch up in 120 s');
};

async function company(cap: number) {
  const c = await benchCompany(rt, { cap });
  return { companyId: c.companyId, outboxId: c.outboxes[0]! };
}

/** bench/dispatch.ts's hotCredential scenario, replicated: `total` sends on one credential at 64 callers. */
async function dispatchHot(total: number) {
  const c = await company(Math.max(1_000_000, 2 * total));
  const statuses: Record<string, number> = {};
  let last: Position | null = null;
  sqlSince(1);
  const stats = await runConcurrent(DISPATCH_CONCURRENCY, total, async (_w, i) => {
    const { result, position } = await rt.dispatcher.send(
      c.companyId,
      { channel: 'email', outboxId: c.outboxId, to: `d${i}@example.org`, payload: { subject: 'Hi', text: 'Bench' } },
      LOCAL_OPERATOR,
    );
    statuses[result.status] = (statuses[result.status] ?? 0) + 1;
    if (position && (!last || comparePositions(position, last) > 0)) last = position;
  });
  await waitFor(last);
  return { ...stats, statuses, sql: sqlSince(total) };
}

async function sequenceRun() {
  const c = await company(Math.max(1_000_000, 2 * N));
  const seq = await createSequence(
    rt.store,
    {
      companyId: c.companyId,
      definition: {
        name: 'Bench',
        steps: [
          { outboxId: c.outboxId, payload: { subject: 'Hi {{name}}', text: 'Hello {{name}}' }, waitBefore: 'PT0S' },
          { outboxId: c.outboxId, payload: { subject: 'Again, {{name}}', text: 'Still there?' }, waitBefore: 'P3D' },
        ],
        sendWindow: null,
        stopOn: ['reply', 'bounce', 'unsubscribe'],
      },
    },
    LOCAL_OPERATOR,
    now(),
  );
  await waitFor(seq.position);
  const enrollStart = performance.now();
  let last: Position | null = null;
  for (let from = 0; from < N; from += PER_CALL) {
    const contacts = Array.from({ length: Math.min(PER_CALL, N - from) }, (_, k) => ({
      to: `s${from + k}@example.org`,
      variables: { name: `Contact ${from + k}` },
    }));
    const r = await enroll(rt.store, { companyId: c.companyId, sequenceId: seq.id, contacts }, LOCAL_OPERATOR, now());
    last = r.position ?? last;
  }
  const enrollMs = performance.now() - enrollStart;
  await waitFor(last);
  const projectedMs = performance.now() - enrollStart;
  const { rows } = await rt.db.query<{ recipient: string; next_due_at: Date }>(
    `SELECT recipient, next_due_at FROM crm_enrollments WHERE sequence_id = $1`,
    [seq.id],
  );
  const dueAt = new Map(rows.map((r) => [r.recipient, r.next_due_at.getTime()]));

  const scheduler = new SequenceScheduler(
    { store: timed(rt.store, 'store'), db: timed(rt.db, 'db'), dispatcher: timed(rt.dispatcher, 'dispatcher'), now, logger: silentLogger },
    { batch: BATCH, concurrency: CONCURRENCY },
  );
  sqlSince(1);
  recording = true;
  const passes: { sent: number; ms: number }[] = [];
  let idle = 0;
  let passEnd: Position | null = null;
  const ownStart = process.cpuUsage();
  const cpuStart = machineCpuMs();
  const start = performance.now();
  const startWall = Date.now();
  // Back to back, as a scheduler behind on its work would run; a pass that sends nothing waits for the read
  // model to show its outcomes, and three such passes in a row end the run (what is left is missing).
  while (decidedAt.size < N && idle < 3) {
    const t0 = performance.now();
    const r = await scheduler.runOnce();
    passEnd = r.position ?? passEnd;
    passes.push({ sent: r.sent, ms: round(performance.now() - t0) });
    if (r.sent > 0) idle = 0;
    else {
      idle++;
      await waitFor(r.position);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const own = process.cpuUsage(ownStart);
  const cpuEnd = machineCpuMs();
  recording = false;
  // Its projections' share too: they catch up after the pass.
  await waitFor(passEnd);
  const statements = sqlSince(N);

  const lags = rows.filter((r) => decidedAt.has(r.recipient)).map((r) => decidedAt.get(r.recipient)! - dueAt.get(r.recipient)!);
  lags.sort((a, b) => a - b);
  // The same measure counted from the first pass's start: what the scheduler adds, without the enrollment phase
  // (every dueAt is before the first pass, since all N are enrolled and projected first).
  const sincePass = rows
    .filter((r) => decidedAt.has(r.recipient))
    .map((r) => decidedAt.get(r.recipient)! - Math.max(dueAt.get(r.recipient)!, startWall));
  sincePass.sort((a, b) => a - b);
  return {
    enrollments: N,
    enrollMs: round(enrollMs),
    enrollPerSecond: round(N / (enrollMs / 1000)),
    enrolledAndProjectedMs: round(projectedMs),
    scheduler: `SequenceScheduler built here (rt.sequences: batch ${SCHEDULER_DEFAULTS.batch}, concurrency ${SCHEDULER_DEFAULTS.concurrency})`,
    batch: BATCH,
    concurrency: CONCURRENCY,
    passes: passes.length,
    passMs: passes.length <= 10 ? passes.map((p) => p.ms) : undefined,
    seconds: round(seconds, 2),
    perSecond: round(N / seconds),
    ...(cpuStart !== null && cpuEnd !== null ? { machineCpuMsPerSend: round((cpuEnd - cpuStart) / N, 3) } : {}),
    processCpuMsPerSend: round((own.user + own.system) / 1000 / N, 3),
    lagP50Ms: round(percentile(lags, 50)),
    lagP99Ms: round(percentile(lags, 99)),
    lagSinceFirstPassP50Ms: round(percentile(sincePass, 50)),
    lagSinceFirstPassP99Ms: round(percentile(sincePass, 99)),
    sendsTwice: [...callsPerActivity.values()].filter((n) => n > 1).length,
    sendsMissing: rows.filter((r) => !decidedAt.has(r.recipient)).length,
    // Per dep method: calls, and ms per send (summed over the workers: with `concurrency` of them, a step's
    // latency is about the sum of the rows; store reads are loading the enrollment and the outbox, appends are
    // recording the outcome, db.query is the pass's three scans).
    profile: Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, { calls: v.calls, msPerSend: round(v.ms / N, 2) }])),
    sql: statements,
    stepLatencyMs: round((seconds * 1000 * CONCURRENCY) / N, 1),
  };
}

try {
  // The dispatcher's figure before and after the scheduler's run, and the ratio to their mean: on a shared
  // machine, load that comes and goes during one phase would otherwise skew the comparison either way.
  const hotBefore = await dispatchHot(N);
  const seq = await sequenceRun();
  const hotAfter = await dispatchHot(N);
  const hot = {
    ...hotAfter,
    perSecond: round((hotBefore.perSecond + hotAfter.perSecond) / 2),
    before: hotBefore.perSecond,
    after: hotAfter.perSecond,
  };
  const ratio = round(seq.perSecond / hot.perSecond, 2);
  const out = {
    benchmark: 'sequences',
    backend: args.backend,
    cores: (await import('node:os')).cpus().length,
    sequence: seq,
    dispatchHot: hot,
    ratioToDispatchHot: ratio,
    sendsTwice: seq.sendsTwice,
    sendsMissing: seq.sendsMissing,
    note:
      `${seq.perSecond} step sends/s (batch ${BATCH}, concurrency ${CONCURRENCY}) vs ` +
      `${hot.perSecond} dispatcher sends/s at ${DISPATCH_CONCURRENCY} (mean of ${hot.before} before and ${hot.after} after): ${ratio} (target >= 0.8)`,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await rt.close();
  await bench.drop();
}
