import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirBusyError, lockDataDir } from '../../src/sql/data-dir-lock.js';
import { tempDir } from '../support/app.js';

describe('the data folder lock', () => {
  it('is held once, released, and leaves no stray files', () => {
    const dir = tempDir();
    try {
      const release = lockDataDir(dir.path);
      expect(readdirSync(dir.path)).toEqual(['crm.lock']);
      release();
      expect(existsSync(join(dir.path, 'crm.lock'))).toBe(false);
    } finally {
      dir.remove();
    }
  });

  it('refuses a folder a live process holds, and takes over a stale lock', () => {
    const dir = tempDir();
    try {
      // pid 1 is alive (init): a live holder.
      writeFileSync(join(dir.path, 'crm.lock'), '1');
      expect(() => lockDataDir(dir.path)).toThrow(DataDirBusyError);
      // A process that has exited: its lock is stale.
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
      writeFileSync(join(dir.path, 'crm.lock'), gone);
      const release = lockDataDir(dir.path);
      release();
      expect(readdirSync(dir.path)).toEqual([]);
    } finally {
      dir.remove();
    }
  });
});
