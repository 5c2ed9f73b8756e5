import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import { backendTests } from './test/support/unit-tier.js';
import base from './vitest.config.js';

// The fast tier (`npm run test:unit`): every test file that needs no database, no EventStoreDB and no child
// process (test/support/unit-tier.ts says how they are found). `npm test` (vitest.config.ts) runs everything.
const ROOT = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  test: {
    ...base.test,
    exclude: [...configDefaults.exclude, ...backendTests(resolve(ROOT, 'test'))],
    // Most of an isolated run went to importing each file's module graph afresh (about 30 s on two busy cores,
    // against under 20 s shared). These files change no global state (no module mocks, stubbed globals or
    // environment writes); `npm test` still isolates every file, so a test that starts to depend on another's
    // leftovers fails here and not there, and is found.
    pool: 'threads',
    isolate: false,
  },
});
