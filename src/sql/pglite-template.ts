import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A new PGlite data folder is made by running initdb in WebAssembly, which takes 3 to 7 s: most of a first
 * start. The build (scripts/build.mjs) makes one such folder, migrated, and keeps it as a tarball next to the
 * compiled code; a first start unpacks it (under a second) instead. Its name carries PGlite's version, since
 * a folder written by one version may not open in another: after an upgrade without a rebuild there is no
 * template, and initdb runs as before. From the TypeScript sources (tsx) there is none either.
 */
export function templatePath(): string {
  return fileURLToPath(new URL(`../pglite-template-${pgliteVersion()}.tar.gz`, import.meta.url));
}

/** The template to start an empty folder from, or undefined (the folder exists, or no template was built). */
export function templateFor(dataDir: string | undefined, file = templatePath()): Blob | undefined {
  if (!dataDir || existsSync(join(dataDir, 'PG_VERSION'))) return undefined;
  return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
}

/** The installed PGlite's version (its package.json is not among its exports: found from its entry point). */
function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}
