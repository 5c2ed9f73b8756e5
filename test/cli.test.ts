import type { ChildProcess } from 'node:child_process';
import { crm } from './support/cli.js';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startServer, waitHealthy } from './support/processes.js';
import { tempDir } from './support/app.js';

describe('the crm CLI', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('prints help for every command, and refuses bad arguments with one line and a non-zero exit', async () => {
    const env = { CRM_DATA_DIR: '/nonexistent-not-used' };
    for (const args of [
      ['--help'],
      ['token', '--help'],
      ['token', 'board', '--help'],
      ['token', 'agent', '--help'],
      ['token', 'revoke', '--help'],
      ['secret', 'put', '--help'],
    ]) {
      const r = await crm(args, env);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: crm/);
    }
    for (const args of [
      ['token', 'bord'],
      ['token', 'board'],
      ['token', 'board', '--user', 'x', '--company', 'nope'],
      ['token', 'board', '--user', 'x', '--ttl-days', '-3'],
      ['token', 'board', '--user', 'x', '--bogus'],
      ['token', 'agent', '--agent', 'a'],
      ['token', 'revoke'],
      ['token', 'revoke', 'not-a-uuid'],
      ['secret', 'put', '--name', 'x'],
      ['secret', 'put', '--instance', '--company', randomUUID(), '--name', 'x'],
    ]) {
      const r = await crm(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^crm: /);
    }
  }, 60_000);

  it('as a new user would: a CLI admin token, then secrets and agent keys over HTTP, and the agent fenced in', async () => {
    const dir = tempDir();
    try {
      const env = { CRM_DATA_DIR: dir.path };
      const issued = await crm(['token', 'board', '--user', 'me', '--admin'], env);
      expect(issued.code).toBe(0);
      const admin = issued.stdout.trim();
      expect(issued.stdout).toMatch(/^pcp_board_[0-9a-f]{48}\n$/);

      const company = randomUUID();
      const put = await crm(['secret', 'put', '--company', company, '--name', 'smtp'], env, 'smtp://u:pw@127.0.0.1:2525\n');
      expect(put.code).toBe(0);
      expect(put.stdout).toMatch(/^secret:\/\/[0-9a-f-]{36}:latest\n$/);
      const instancePut = await crm(['secret', 'put', '--instance', '--name', 'hooks-signing-key'], env, 'whsec-from-the-operator\n');
      expect(instancePut.code, instancePut.stderr).toBe(0);
      expect(instancePut.stdout).toMatch(/^secret:\/\/[0-9a-f-]{36}:latest\n$/);

      const port = await freePort();
      const server = startServer({ ...env, PORT: String(port), CRM_AUTH_MODE: 'authenticated' });
      children.push(server.child);
      await waitHealthy(port, 60_000);
      const base = `http://127.0.0.1:${port}`;
      const call = (method: string, path: string, token: string, body?: unknown) =>
        fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });

      expect((await call('POST', `/api/companies/${company}/crm/secrets`, admin, { name: 'wa', value: 'token-xyz' })).status).toBe(201);
      const list = (await (await call('GET', `/api/companies/${company}/crm/secrets`, admin)).json()) as { items: { name: string }[] };
      expect(list.items.map((i) => i.name).sort()).toEqual(['smtp', 'wa']);
      const instance = (await (await call('GET', '/api/admin/secrets', admin)).json()) as { items: { name: string; ref: string }[] };
      expect(instance.items.map((i) => `${i.ref}\n`)).toEqual([instancePut.stdout]);
      expect(instance.items[0]!.name).toBe('hooks-signing-key');
      const key = await call('POST', `/api/companies/${company}/agent-keys`, admin, { agentId: 'bot' });
      expect(key.status).toBe(201);
      const agent = ((await key.json()) as { token: string }).token;
      expect((await call('GET', `/api/companies/${randomUUID()}/agent-keys`, agent)).status).toBe(403);
      expect((await call('GET', `/api/companies/${randomUUID()}/crm/secrets`, agent)).status).toBe(403);

      // The server holds the embedded storage: the CLI says so instead of corrupting it.
      const busy = await crm(['token', 'board', '--user', 'x'], env);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/in use by process/);

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      const revoke = await crm(['token', 'revoke', '00000000-0000-4000-8000-000000000000'], env);
      expect(revoke.code).toBe(1);
      expect(revoke.stderr).toMatch(/not found/);
    } finally {
      dir.remove();
    }
  }, 120_000);
});
