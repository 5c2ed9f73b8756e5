import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_MASTER_KEY, tempDir } from './app.js';
import { freePort, startServer, waitHealthy } from './processes.js';

/** A fresh database on the server of `serverUrl`, dropped by `drop`. */
export async function freshDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `crm_t_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Ends every connection the service opened (they carry its application_name), as an administrator would. */
export async function terminateConnections(serverUrl: string, applicationName: string): Promise<number> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t`,
      [applicationName],
    );
    return rows[0]!.n;
  } finally {
    await c.end();
  }
}

/** `npm start`'s process on a PostgreSQL database, its connections named so that a test can find them. */
export async function serviceOn(databaseUrl: string, env: Record<string, string> = {}) {
  const applicationName = `crm-test-${randomBytes(4).toString('hex')}`;
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', applicationName);
  const port = await freePort();
  const dir = tempDir();
  const s = startServer({
    PORT: String(port),
    CRM_DATA_DIR: dir.path,
    DATABASE_URL: url.toString(),
    CRM_SECRETS_MASTER_KEY: TEST_MASTER_KEY,
    ...env,
  });
  let exitCode: number | null | undefined;
  void s.exited.then((code) => (exitCode = code));
  await waitHealthy(port, 60_000);
  return {
    applicationName,
    base: `http://127.0.0.1:${port}`,
    output: s.output,
    alive: () => exitCode === undefined && s.child.exitCode === null,
    /** `kill -9` and the like: the process gets no chance to clean up. */
    kill: (signal: NodeJS.Signals) => s.child.kill(signal),
    async stop() {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
      dir.remove();
    },
  };
}
