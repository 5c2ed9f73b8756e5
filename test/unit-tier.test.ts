import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { backendTests, reachesBackend } from './support/unit-tier.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('the fast tier: which test files reach a backend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unit-tier-'));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  write('test/pure.test.ts', `import { x } from './lib/pure.js';\nimport { describe } from 'vitest';\n`);
  write('test/lib/pure.ts', `import { readFileSync } from 'node:fs';\nexport { y } from './cycle.js';\nexport const x = 1;\n`);
  write('test/lib/cycle.ts', `import { x } from './pure.js';\nexport const y = x;\n`);
  write('test/db.test.ts', `import { open } from './lib/db.js';\n`);
  write('test/lib/db.ts', `import pg from 'pg';\n`);
  write('test/spawns.test.ts', `import './lib/proc';\n`);
  write('test/lib/proc/index.ts', `const { spawn } = await import('node:child_process');\n`);
  write('test/server.test.ts', `const url = process.env.TEST_EVENTSTORE_URL;\n`);
  write('test/pglite.test.ts', `import type { PGlite } from '@electric-sql/pglite';\n`);
  write('test/lib/not-a-test.ts', `import pg from 'pg';\n`);

  it('follows imports through the repository, across cycles, to a driver, process spawning or a server variable', () => {
    expect(reachesBackend(join(dir, 'test/pure.test.ts'))).toBe(false);
    expect(backendTests(join(dir, 'test'))).toEqual([
      'test/db.test.ts',
      'test/pglite.test.ts',
      'test/server.test.ts',
      'test/spawns.test.ts',
    ]);
  });

  it('keeps the in-memory and pure suites of this repository, and leaves out those on a database or server', () => {
    const backend = backendTests(join(ROOT, 'test'));
    expect(backend).toEqual(
      expect.arrayContaining(['test/eventstore/sql-event-store.test.ts', 'test/eventstore/eventstoredb.test.ts', 'test/cli.test.ts']),
    );
    expect(backend).not.toContain('test/eventstore/in-memory-event-store.test.ts');
    expect(backend).not.toContain('test/eventstore/eventstoredb-mapping.test.ts');
    expect(backend).not.toContain('test/concurrency/batcher.test.ts');
  });
});
