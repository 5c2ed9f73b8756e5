/**
 * HTTP benchmark: `npm run bench:http -- --backend pglite|postgres [--requests N] [--connections C]`.
 * What a user meets: the real server in its own process (the compiled build, as `npm start` runs it), a loopback
 * SMTP server in a third (bench/smtp-sink.ts), and autocannon firing `POST …/send` at C connections: a warm-up
 * (not counted), then N dry runs and N emails in halves (dry run, email, email, dry run). Then the in-process figure (`bench:dispatch --only hot`, the server stopped) for the same
 * backend. Checks that the SMTP server received exactly one message per `sent` reply, none twice.
 * PostgreSQL comes from DATABASE_URL: a fresh database is made beside it and dropped afterwards.
 * Prints one JSON object.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { freePort } from '../test/support/processes.js';
import { freshDatabase } from '../test/support/service-process.js';
import { benchArgs, machineCpuMs, percentile, processCpuMs, round } from './support.js';

const args = benchArgs({ requests: { type: 'string', default: '3000' }, connections: { type: 'string', default: '64' } });
const REQUESTS = Number(args.requests);
const CONNECTIONS = Number(args.connections);
const root = join(import.meta.dirname, '..');
const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale'], { stdio: 'inherit' });
if (built.status !== 0) throw new Error('the build failed');

/** The SMTP sink's process, asked for its counts over stdin. */
async function startSink() {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/smtp-sink.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  const { port } = JSON.parse(await next()) as { port: number };
  return {
    port,
    pid: child.pid!,
    async counts() {
      const answer = next();
      child.stdin!.write('count\n');
      return JSON.parse(await answer) as { messages: number; recipients: number; doubled: number; connections: number };
    },
    stop: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.stdin!.end())),
  };
}

/** Where the server keeps its data: a fresh PostgreSQL database, or a PGlite folder. */
async function openStorage(): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'crm-bench-http-'));
  if (args.backend === 'pglite')
    return { env: { CRM_DATA_DIR: dataDir, DATABASE_URL: '' }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('--backend postgres needs DATABASE_URL\n');
    process.exit(2);
  }
  const database = await freshDatabase(url);
  return {
    env: { CRM_DATA_DIR: dataDir, DATABASE_URL: database.url },
    drop: async () => {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startServer(env: Record<string, string>): Promise<{ origin: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'dist/main.js')], {
    cwd: root,
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EVENTSTORE_URL: '',
      CRM_AUTH_MODE: 'local_trusted',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  for (;;) {
    try {
      if ((await fetch(`${origin}/readyz`)).status === 200) return { origin, child };
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 120_000) throw new Error('the server was not ready within 120 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, string>;
}

/** A company that sends email to the sink: one outbox, everyone allowed, every send approved by a rule. */
async function company(origin: string, smtpPort: number) {
  const base = `${origin}/api/companies/${randomUUID()}/crm`;
  const secret = await post(`${base}/secrets`, { name: 'smtp', value: `smtp://bench:x@127.0.0.1:${smtpPort}` });
  const outbox = await post(`${base}/outboxes`, {
    channel: 'email',
    secretRef: secret.ref,
    config: { fromAddress: 'ops@example.com' },
    dailyCap: 1_000_000,
  });
  await post(`${base}/allowlist`, { pattern: '*' });
  await post(`${base}/approval-rules`, { predicate: { any: true }, action: 'auto_approve', priority: 1 });
  return { base, outboxId: outbox.id! };
}

interface Pids {
  server: number;
  smtpSink: number;
}

/** CPU so far of each process of the run (this one is the load generator) and of the whole machine. */
const cpuNow = (pids: Pids) => ({
  server: processCpuMs(pids.server),
  smtpSink: processCpuMs(pids.smtpSink),
  loadGenerator: processCpuMs(process.pid),
  machine: machineCpuMs(),
});

/** One load of `amount` sends over C connections, with its raw figures, to be merged with its other half. */
interface Part {
  requests: number;
  seconds: number;
  latencies: number[];
  cpuBefore: ReturnType<typeof cpuNow>;
  cpuAfter: ReturnType<typeof cpuNow>;
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
}

/** `amount` sends of `channel` over C connections; the replies tallied as `<http status> <send status>`. */
async function load(c: { base: string; outboxId: string }, channel: 'email' | 'dry-run', prefix: string, amount: number, pids: Pids) {
  const cpuBefore = cpuNow(pids);
  let first: number | undefined;
  let last = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const result = await autocannon({
    url: `${c.base}/send`,
    method: 'POST',
    connections: CONNECTIONS,
    amount,
    timeout: 60,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        // One request in flight per connection, so the connection's context holds when its request went.
        setupRequest: (req, context: { sentAt?: number }) => {
          const now = performance.now();
          first ??= now;
          context.sentAt = now;
          return {
            ...req,
            body: JSON.stringify({
              channel,
              outboxId: c.outboxId,
              to: `${prefix}${randomUUID()}@example.org`,
              payload: { subject: 'Hi', text: 'Bench' },
            }),
          };
        },
        onResponse: (status, body, context: { sentAt?: number }) => {
          last = performance.now();
          if (context.sentAt !== undefined) latencies.push(last - context.sentAt);
          let s = '?';
          try {
            s = (JSON.parse(body) as { status?: string }).status ?? '?';
          } catch {
            // not JSON: counted as '?'
          }
          statuses[`${status} ${s}`] = (statuses[`${status} ${s}`] ?? 0) + 1;
        },
      },
    ],
  });
  return {
    requests: result.requests.total,
    // From the first request sent to the last reply: autocannon's own duration ends on its one-second tick, which
    // made every figure N / whole seconds (a 3.1 s run counted as 4).
    seconds: first !== undefined && last > first ? (last - first) / 1000 : 0,
    latencies,
    cpuBefore,
    cpuAfter: cpuNow(pids),
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
  } satisfies Part;
}

/** The halves of one channel's load as one figure: summed requests, time and CPU, all latencies. */
function merged(parts: Part[]) {
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const spent = (key: keyof ReturnType<typeof cpuNow>) =>
    parts.every((p) => p.cpuBefore[key] !== null && p.cpuAfter[key] !== null)
      ? parts.reduce((n, p) => n + (p.cpuAfter[key]! - p.cpuBefore[key]!), 0)
      : null;
  const per = (ms: number | null) => (ms === null || requests === 0 ? null : round(ms / requests, 3));
  return {
    requests,
    // Where a request's CPU went: on a 2-core machine the SMTP sink and the load generator share the cores with
    // the server, so what the server itself spends per send is the figure a change to it moves.
    cpuMsPerRequest: {
      server: per(spent('server')),
      smtpSink: per(spent('smtpSink')),
      loadGenerator: per(spent('loadGenerator')),
      machine: per(spent('machine')),
    },
    perSecond: seconds > 0 ? round(requests / seconds) : 0,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    timeouts: parts.reduce((n, p) => n + p.timeouts, 0),
    statuses,
  };
}

/** The in-process figure on the same backend, from bench:dispatch (hot credential), with the server stopped. */
function inProcess(): { perSecond: number; p99Ms: number } | { error: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'bench/dispatch.ts'), '--backend', args.backend, '--only', 'hot', '--sends', String(REQUESTS)],
    { cwd: root, encoding: 'utf8', env: process.env, maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) return { error: `bench:dispatch exited ${r.status}` };
  const hot = (JSON.parse(r.stdout) as { hotCredential: { perSecond: number; p99Ms: number } }).hotCredential;
  return { perSecond: hot.perSecond, p99Ms: hot.p99Ms };
}

const sink = await startSink();
const storage = await openStorage();
let server: ChildProcess | undefined;
try {
  const started = await startServer(storage.env);
  server = started.child;
  const c = await company(started.origin, sink.port);
  const pids = { server: server.pid!, smtpSink: sink.pid };
  // Not counted: a fresh server's first sends run while V8 compiles the send path and the database warms up.
  const warmUp = Math.min(500, Math.ceil(REQUESTS / 4));
  const warm = [await load(c, 'dry-run', 'warm', warmUp, pids), await load(c, 'email', 'warm', warmUp, pids)];
  // In halves, dry run, email, email, dry run: a server still speeding up or a machine slowing down weighs on
  // both alike (run one after the other, the ratio leaned towards whichever ran second).
  const half = Math.floor(REQUESTS / 2);
  const dryParts = [await load(c, 'dry-run', 'dry', half, pids)];
  const emailParts = [await load(c, 'email', 'mail', half, pids)];
  emailParts.push(await load(c, 'email', 'mail', REQUESTS - half, pids));
  dryParts.push(await load(c, 'dry-run', 'dry', REQUESTS - half, pids));
  const dryRun = merged(dryParts);
  const email = merged(emailParts);
  const received = await sink.counts();
  server.kill('SIGTERM');
  await new Promise((r) => server!.once('exit', r));
  server = undefined;
  const hot = inProcess();
  const sent = (email.statuses['200 sent'] ?? 0) + (warm[1]!.statuses['200 sent'] ?? 0);
  const out = {
    benchmark: 'http',
    backend: args.backend,
    cores: cpus().length,
    connections: CONNECTIONS,
    warmUp: { requestsPerChannel: warmUp, statuses: merged(warm).statuses },
    dryRunOverHttp: dryRun,
    emailOverHttp: email,
    inProcessHot: hot,
    emailVsDryRun: dryRun.perSecond ? round(email.perSecond / dryRun.perSecond, 2) : null,
    smtp: { ...received, sentReplies: sent },
    // One message per `sent` reply, none twice: what a user is owed.
    messagesLostOrDoubled: Math.abs(received.messages - sent) + received.doubled,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
  }
  await sink.stop();
  await storage.drop();
}
