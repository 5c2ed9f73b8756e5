import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirBusyError extends Error {
  override readonly name = 'DataDirBusyError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An embedded PGlite data folder must have one process at a time: two would corrupt it. A pid file says who
 * holds it. Taking it is a hard link of a file already holding our pid (atomic: it fails if the lock exists),
 * and a stale lock (its process is gone) is first renamed away (atomic: of two processes racing to take it
 * over, one renames it and the other finds it gone), so two starters can never both hold the folder.
 * Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'crm.lock');
  const mine = join(dir, `crm.lock.${process.pid}`);
  writeFileSync(mine, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(mine, file);
        return () => rmSync(file, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder: number;
      try {
        holder = Number(readFileSync(file, 'utf8').trim());
      } catch {
        continue; // released meanwhile: try again
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new DataDirBusyError(`the data folder ${dir} is in use by process ${holder} (stop it first)`);
      }
      try {
        renameSync(file, join(dir, `crm.lock.stale-${process.pid}`));
        rmSync(join(dir, `crm.lock.stale-${process.pid}`), { force: true });
      } catch {
        /* another starter took it over first: look again */
      }
    }
    throw new DataDirBusyError(`could not lock the data folder ${dir}`);
  } finally {
    rmSync(mine, { force: true });
  }
}
