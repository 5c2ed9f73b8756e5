import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PgbenchResult {
  clients: number;
  seconds: number;
  tps: number;
}

/**
 * The database's own yardstick, measured in the same run as the service: pgbench's single-row INSERT at
 * `clients` connections for `seconds`, into a table of its own in `schema` (dropped with it). Null when
 * pgbench is not installed: the ratio is then not reported, rather than compared with another run's figure.
 */
export async function pgbenchInsertTps(url: string, schema: string, clients = 64, seconds = 10): Promise<PgbenchResult | null> {
  const table = `${schema}.pgbench_insert`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, v text NOT NULL)`);
  } finally {
    await c.end();
  }
  const file = `/tmp/crm-bench-${schema}.pgbench.sql`;
  writeFileSync(file, `INSERT INTO ${table} (v) VALUES ('x');\n`);
  try {
    const { stdout } = await run('pgbench', ['-n', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', file, url]);
    const tps = /tps = ([\d.]+)/.exec(stdout);
    return tps ? { clients, seconds, tps: Math.round(Number(tps[1])) } : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  } finally {
    rmSync(file, { force: true });
  }
}
