/**
 * Start-up benchmark: `npm run bench:start [-- --runs N]`. Times, as a user meets them, `crm --help`, the service's
 * first start on an empty data folder (until /healthz and /readyz answer 200) and a restart on the same folder,
 * each from the compiled build (dist/, what `npm start` and `crm` run) and from the TypeScript sources through
 * tsx (what they ran before), interleaved run by run so that the two are compared on the same machine load.
 * Targets: `crm --help` under 1 s, a first start healthy under 3 s, a restart under 1.5 s. Prints one JSON object.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs, percentile, round } from './support.js';

const args = benchArgs({ runs: { type: 'string', default: '3' } });
const RUNS = Number(args.runs);
const root = join(import.meta.dirname, '..');
const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale'], { stdio: 'inherit' });
if (built.status !== 0) throw new Error('the build failed');

const variants = {
  dist: { cli: [join(root, 'dist/cli/main.js')], server: [join(root, 'dist/main.js')] },
  tsx: { cli: ['--import', 'tsx', join(root, 'src/cli/main.ts')], server: ['--import', 'tsx', join(root, 'src/main.ts')] },
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function timeCommand(argv: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { cwd: root, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return performance.now() - t0;
}

/** Starts the server, waits for /healthz then /readyz to be 200, stops it; the times from the spawn. */
async function timeStart(argv: string[], dataDir: string): Promise<{ healthyMs: number; readyMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, {
    cwd: root,
    env: { ...process.env, PORT: String(port), CRM_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', EVENTSTORE_URL: '' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const until = async (path: string) => {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}${path}`)).status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 120_000) throw new Error(`${path} not 200 within 120 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    const healthyMs = await until('/healthz');
    const readyMs = await until('/readyz');
    return { healthyMs, readyMs };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const results: Record<
  string,
  { help: number[]; firstHealthy: number[]; firstReady: number[]; restartHealthy: number[]; restartReady: number[] }
> = {};
for (let run = 0; run < RUNS; run++) {
  for (const [name, v] of Object.entries(variants)) {
    const r = (results[name] ??= { help: [], firstHealthy: [], firstReady: [], restartHealthy: [], restartReady: [] });
    r.help.push(timeCommand([...v.cli, '--help']));
    const dir = mkdtempSync(join(tmpdir(), 'crm-bench-start-'));
    try {
      const first = await timeStart(v.server, dir);
      r.firstHealthy.push(first.healthyMs);
      r.firstReady.push(first.readyMs);
      const again = await timeStart(v.server, dir);
      r.restartHealthy.push(again.healthyMs);
      r.restartReady.push(again.readyMs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
const summary = (xs: number[]) => ({
  runs: xs.map((x) => round(x)),
  p50: round(
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    ),
  ),
});
const out = Object.fromEntries(
  Object.entries(results).map(([name, r]) => [name, Object.fromEntries(Object.entries(r).map(([k, xs]) => [`${k}Ms`, summary(xs)]))]),
);
const ratio = (k: keyof (typeof results)['dist']) =>
  round(
    percentile(
      [...results.dist![k]].sort((a, b) => a - b),
      50,
    ) /
      percentile(
        [...results.tsx![k]].sort((a, b) => a - b),
        50,
      ),
    2,
  );
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'start',
      runs: RUNS,
      ...out,
      distToTsx: { help: ratio('help'), firstHealthy: ratio('firstHealthy'), restartHealthy: ratio('restartHealthy') },
      targets: { helpMs: 1000, firstHealthyMs: 3000, restartHealthyMs: 1500 },
    },
    null,
    2,
  )}\n`,
);
