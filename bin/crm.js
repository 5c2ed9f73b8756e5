#!/usr/bin/env node
// The `crm` command. It runs the compiled CLI (dist/, made by `npm install` or `npm run build`) when that is
// current; otherwise the TypeScript sources through tsx (slower to start, always right).
import { isStale } from '../scripts/stale.mjs';

const root = new URL('..', import.meta.url).pathname;
if (isStale(root)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else {
  await import('../dist/cli/main.js');
}
