#!/usr/bin/env node
// Compiles src/ to dist/ once, so that the service and the CLI start as plain JavaScript (no compiler at
// start). `--if-stale`: only when a source is newer than the last build (what `npm start` runs first).
// Run by `npm install`/`npm ci` (the `prepare` script) and `npm run build`.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isStale, STAMP } from './stale.mjs';

const root = join(import.meta.dirname, '..');
const ifStale = process.argv.includes('--if-stale');
if (ifStale && !isStale(root)) process.exit(0);

// Two starts at once (two `npm start`s of a stale tree) must not compile into dist/ together: one builds, the
// other waits and then finds it current. A lock left by a killed build is taken over after 5 minutes.
const lock = join(root, 'dist', '.build-lock');
mkdirSync(join(root, 'dist'), { recursive: true });
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(lock).mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
    } catch {
      // released meanwhile
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
}
process.on('exit', () => rmSync(lock, { recursive: true, force: true }));
if (ifStale && !isStale(root)) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without dev dependencies (the Docker image) has no compiler: it runs src/ through tsx.
  console.error('crm build: typescript is not installed; skipping (src/ runs through tsx)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
// tsc emits whatever the type errors (`npm run typecheck` is where they fail): a build is still runnable.
if (r.status === null || r.error) {
  console.error('crm build: the compiler did not run', r.error?.message ?? '');
  process.exit(1);
}
if (r.status !== 0) console.error('crm build: compiled with type errors (npm run typecheck lists them)');
// What the code reads next to itself at run time (migrations): everything in src/ that is not TypeScript.
cpSync(join(root, 'src'), join(root, 'dist'), {
  recursive: true,
  filter: (from) => statSync(from).isDirectory() || !from.endsWith('.ts'),
});
// A migrated PGlite data folder for first starts (src/sql/pglite-template.ts): initdb is most of one.
for (const f of readdirSync(join(root, 'dist'))) if (f.startsWith('pglite-template-')) rmSync(join(root, 'dist', f));
try {
  const { writePgliteTemplate } = await import(pathToFileURL(join(root, 'dist/sql/make-pglite-template.js')).href);
  await writePgliteTemplate();
} catch (err) {
  // Not fatal: a first start then runs initdb, as it did before.
  console.error('crm build: no PGlite template for first starts:', err instanceof Error ? err.message : err);
}
writeFileSync(join(root, STAMP), `${new Date().toISOString()}\n`);
