import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { tempDir } from '../support/app.js';
import { freePort, startServer, waitHealthy } from '../support/processes.js';
import { freshDatabase } from '../support/service-process.js';

const REFUSAL =
  /^crm-outreach: the secrets master key \(.+\) does not match the one this database was sealed with: set CRM_SECRETS_MASTER_KEY .+\n$/;

/**
 * A program run to its end, stdout and stderr apart (the refusal must be one line on stderr); one still
 * running after 45 s (a server that started when it should not have) is killed, and its code is null.
 */
function runToEnd(
  args: string[],
  env: Record<string, string>,
  children: ChildProcess[],
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const server = (env: Record<string, string>, children: ChildProcess[]) => runToEnd(['--import', 'tsx', 'src/main.ts'], env, children);

describe('instances whose master keys differ', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });

  describe.skipIf(!TEST_DATABASE_URL)(`on one PostgreSQL database${POSTGRES_SKIP_REASON}`, () => {
    it('a second instance with its own secrets.key exits 1 with one line; the CLI likewise; with the first key it starts', async () => {
      const db = await freshDatabase(TEST_DATABASE_URL!);
      const dirA = tempDir();
      const dirB = tempDir();
      try {
        const portA = await freePort();
        const first = startServer({ PORT: String(portA), CRM_DATA_DIR: dirA.path, DATABASE_URL: db.url, CRM_SECRETS_MASTER_KEY: '' });
        children.push(first.child);
        await waitHealthy(portA, 60_000);

        const envB = { CRM_DATA_DIR: dirB.path, DATABASE_URL: db.url, CRM_SECRETS_MASTER_KEY: '' };
        const refused = await server({ ...envB, PORT: String(await freePort()) }, children);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(REFUSAL);
        expect(refused.stderr).toContain(join(dirB.path, 'secrets.key'));
        expect(refused.stdout).not.toMatch(/"level":"error"/);

        // The CLI seals secrets too: with the wrong key it must not store one no server can open.
        const cli = await runToEnd(
          ['./bin/crm.js', 'secret', 'put', '--company', randomUUID(), '--name', 'smtp'],
          envB,
          children,
          'smtp://u:cli-pass@h:25\n',
        );
        expect(cli.code).toBe(1);
        expect(cli.stdout).toBe('');
        expect(cli.stderr).toMatch(/^crm: the secrets master key .* set CRM_SECRETS_MASTER_KEY .+\n$/);

        const keyA = readFileSync(join(dirA.path, 'secrets.key'), 'utf8').trim();
        const portB = await freePort();
        const second = startServer({ ...envB, PORT: String(portB), CRM_SECRETS_MASTER_KEY: keyA });
        children.push(second.child);
        await waitHealthy(portB, 60_000);
        expect((await fetch(`http://127.0.0.1:${portB}/readyz`)).status).toBe(200);

        for (const s of [first, second]) {
          s.child.kill('SIGTERM');
          expect(await s.exited).toBe(0);
        }
      } finally {
        for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
        await db.drop();
        dirA.remove();
        dirB.remove();
      }
    }, 180_000);
  });

  it('on PGlite: a data folder whose secrets.key was replaced refuses to start; the original key given as CRM_SECRETS_MASTER_KEY starts it', async () => {
    const dir = tempDir();
    try {
      const env = { CRM_DATA_DIR: dir.path, CRM_SECRETS_MASTER_KEY: '' };
      const port = await freePort();
      const first = startServer({ ...env, PORT: String(port) });
      children.push(first.child);
      await waitHealthy(port, 60_000);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const file = join(dir.path, 'secrets.key');
      const original = readFileSync(file, 'utf8').trim();
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      const refused = await server({ ...env, PORT: String(await freePort()) }, children);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(REFUSAL);

      const again = startServer({ ...env, PORT: String(port), CRM_SECRETS_MASTER_KEY: original });
      children.push(again.child);
      await waitHealthy(port, 60_000);
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    } finally {
      dir.remove();
    }
  }, 180_000);
});
