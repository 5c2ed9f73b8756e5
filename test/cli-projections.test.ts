import type { ChildProcess } from 'node:child_process';
import { crm } from './support/cli.js';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/app.js';
import { freePort, startServer, waitHealthy } from './support/processes.js';

interface Status {
  name: string;
  eventsApplied: number;
  leader: boolean;
  caughtUp: boolean;
}

// `crm projections status|rebuild` (issue 16 part 4) on a seeded data folder: opened by the CLI itself, then,
// with a server holding the folder, through that server's admin API.
describe('crm projections', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('status and rebuild on the folder itself, then through the server that holds it', async () => {
    const dir = tempDir();
    try {
      const env = { CRM_DATA_DIR: dir.path };
      for (const args of [
        ['projections', '--help'],
        ['projections', 'status', '--help'],
        ['projections', 'rebuild', '--help'],
      ]) {
        const h = await crm(args, env);
        expect(h.code, args.join(' ')).toBe(0);
        expect(h.stdout).toMatch(/^Usage: crm projections/);
      }
      const admin = (await crm(['token', 'board', '--user', 'me', '--admin'], env)).stdout.trim();
      expect(admin).toMatch(/^pcp_board_/);
      await crm(['token', 'board', '--user', 'you'], env);

      const json = await crm(['projections', 'status', '--json'], env);
      expect(json.code, json.stderr).toBe(0);
      const tokens = (JSON.parse(json.stdout) as Status[]).find((p) => p.name === 'access_tokens');
      expect(tokens).toMatchObject({ eventsApplied: 2, caughtUp: true });
      const table = await crm(['projections', 'status'], env);
      expect(table.stdout).toMatch(/access_tokens.*caught up/);

      const rebuilt = await crm(['projections', 'rebuild', 'access_tokens'], env);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      expect(rebuilt.stdout).toMatch(/^rebuilt access_tokens: 2 events applied of \d+ read in [\d.]+ s\n$/);
      // Not a terminal here: plain progress lines, ending with the swap done.
      expect(rebuilt.stderr).toMatch(/access_tokens: done, \d+(\/\d+)? events read/);
      const unknown = await crm(['projections', 'rebuild', 'nope'], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^crm: no projection named nope/);

      const port = await freePort();
      const server = startServer({ ...env, PORT: String(port), CRM_AUTH_MODE: 'authenticated' });
      children.push(server.child);
      await waitHealthy(port, 60_000);
      const viaServer = { ...env, PORT: String(port), CRM_AUTH_MODE: 'authenticated' };

      const refused = await crm(['projections', 'status'], viaServer);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/answered 401.*CRM_ADMIN_TOKEN/);

      const served = await crm(['projections', 'status', '--json'], { ...viaServer, CRM_ADMIN_TOKEN: admin });
      expect(served.code, served.stderr).toBe(0);
      // The server's own view: it leads its projections.
      expect((JSON.parse(served.stdout) as Status[]).find((p) => p.name === 'access_tokens')).toMatchObject({
        leader: true,
        eventsApplied: 2,
      });

      const all = await crm(['projections', 'rebuild', '--all'], { ...viaServer, CRM_ADMIN_TOKEN: admin });
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toMatch(/rebuilt access_tokens: 2 events applied/);
      expect(all.stdout).toMatch(/rebuilt activities: 0 events applied/);
      // The tokens' read model was swapped while serving: the admin's token still authenticates.
      const list = await fetch(`http://127.0.0.1:${port}/api/admin/board-tokens`, { headers: { authorization: `Bearer ${admin}` } });
      expect(list.status).toBe(200);
      expect(((await list.json()) as { items: unknown[] }).items).toHaveLength(2);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      dir.remove();
    }
  }, 180_000);
});
