// Whether dist/ is older than what it is built from: the CLI and `npm start` run dist/ only when it is current.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP = 'dist/.build-stamp';

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** True when there is no build, or a file of src/ (or the compiler settings) changed since it was made. */
export function isStale(root) {
  const stamp = join(root, STAMP);
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return newest(join(root, 'src')) > built || statSync(join(root, 'tsconfig.json')).mtimeMs > built;
}
