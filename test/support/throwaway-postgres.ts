import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { freePort } from './processes.js';

/**
 * A PostgreSQL cluster of its own on another port (Debian's pg_createcluster, as root), so that a test can
 * stop and start a server without touching the shared one. Null, with the reason, where that is impossible.
 */
export function throwawayClusterUnavailable(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root to run pg_createcluster';
  if (!existsSync('/usr/bin/pg_createcluster') || !existsSync('/etc/postgresql'))
    return 'pg_createcluster (postgresql-common) is not installed';
  if (readdirSync('/etc/postgresql').length === 0) return 'no PostgreSQL version is installed';
  return null;
}

export interface ThrowawayCluster {
  url: string;
  stop(): void;
  start(): void;
  drop(): void;
}

export async function createThrowawayCluster(): Promise<ThrowawayCluster> {
  const version = readdirSync('/etc/postgresql').sort().at(-1)!;
  const name = `crmtest_${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  run('pg_createcluster', [version, name, '-p', String(port), '--start', '--', '--auth=trust']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => void run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'stop', '-m', 'fast']),
    start: () => void run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']),
    drop: () => void run('pg_dropcluster', [version, name, '--stop']),
  };
}
