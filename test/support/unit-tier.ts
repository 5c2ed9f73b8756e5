import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/*
 * Which test files make the fast tier (`npm run test:unit`, vitest.unit.config.ts): those that need no database,
 * no EventStoreDB and no child process. Chosen by what they import rather than listed, so a new test lands in
 * the tier by itself when it qualifies, and leaves it when it starts a backend.
 */

/** Imports that start a backend or a process: the database drivers, and process spawning. */
const BACKEND_PACKAGES = new Set(['@electric-sql/pglite', 'pg', 'child_process', 'node:child_process']);
/** A suite that reads these talks to a server (PostgreSQL or EventStoreDB) when they are set. */
const SERVER_VARIABLES = /\bTEST_(DATABASE|EVENTSTORE)_URL\b/;
const IMPORT = /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s*['"]([^'"]+)['"]/g;

function readIfPresent(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Whether a file's static and literal dynamic imports, followed through the repository, reach a backend. */
export function reachesBackend(file: string): boolean {
  const seen = new Set<string>();
  const pending = [file];
  while (pending.length > 0) {
    const current = pending.pop()!;
    if (seen.has(current)) continue;
    seen.add(current);
    const source = readIfPresent(current);
    if (source === null) continue; // a spelling that is not a file (see below)
    if (SERVER_VARIABLES.test(source)) return true;
    for (const m of source.matchAll(IMPORT)) {
      const specifier = (m[1] ?? m[2] ?? m[3])!;
      if (!specifier.startsWith('.')) {
        if (BACKEND_PACKAGES.has(specifier)) return true;
        continue;
      }
      // Sources import `./x.js` for `./x.ts` (NodeNext); a folder import means its index.
      const path = resolve(dirname(current), specifier).replace(/\.js$/, '.ts');
      pending.push(path, `${path}.ts`, `${path}/index.ts`);
    }
  }
  return false;
}

/** The test files under `testDir` (as `test/…` paths relative to its parent) that reach a backend. */
export function backendTests(testDir: string): string[] {
  return readdirSync(testDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts') && reachesBackend(resolve(testDir, f)))
    .map((f) => `test/${f}`)
    .sort();
}
