import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/app.js';
import { crm } from './support/cli.js';
import { freePort, startServer, waitHealthy } from './support/processes.js';

// `crm history` and `crm state` (issue 16 part 4) on a seeded data folder: through the server that holds it,
// then, once it has stopped, read by the CLI itself; both must say the same.
describe('crm history and crm state', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it("reads a rule set's events and its state between two changes, through the server and then on its own", async () => {
    const dir = tempDir();
    try {
      const env = { CRM_DATA_DIR: dir.path };
      for (const args of [
        ['history', '--help'],
        ['state', '--help'],
      ]) {
        const h = await crm(args, env);
        expect(h.code, args.join(' ')).toBe(0);
        expect(h.stdout).toMatch(new RegExp(`^Usage: crm ${args[0]} <kind> <id>`));
      }
      const port = await freePort();
      const server = startServer({ ...env, PORT: String(port) });
      children.push(server.child);
      await waitHealthy(port, 60_000);
      const companyId = randomUUID();
      const rule = async (priority: number) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/companies/${companyId}/crm/approval-rules`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ predicate: { channel: 'email' }, action: 'queue_for_manual', priority }),
        });
        expect(r.status).toBe(201);
      };
      await rule(10);
      await new Promise((r) => setTimeout(r, 30));
      const between = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 30));
      await rule(20);
      const viaServer = { ...env, PORT: String(port) };

      const read = async (e: Record<string, string>) => {
        const json = await crm(['history', 'rule-set', companyId, '--json'], e);
        expect(json.code, json.stderr).toBe(0);
        const events = JSON.parse(json.stdout) as { revision: number; type: string }[];
        const table = await crm(['history', 'rule-set', companyId], e);
        expect(table.code, table.stderr).toBe(0);
        const then = await crm(['state', 'rule-set', companyId, '--as-of', between], e);
        expect(then.code, then.stderr).toBe(0);
        const now = await crm(['state', 'rule-set', companyId], e);
        return { events, table: table.stdout, then: JSON.parse(then.stdout), now: JSON.parse(now.stdout) };
      };
      const priorities = (s: { state: { rules: Record<string, { priority: number }> } }) =>
        Object.values(s.state.rules)
          .map((r) => r.priority)
          .sort((a, b) => a - b);

      const served = await read(viaServer);
      expect(served.events.map((e) => [e.revision, e.type])).toEqual([
        [0, 'ApprovalRuleAdded'],
        [1, 'ApprovalRuleAdded'],
      ]);
      expect(served.table).toMatch(/│ 0 +│ \S+ +│ ApprovalRuleAdded │ board:local/);
      expect(priorities(served.then)).toEqual([10]);
      expect(served.then).toMatchObject({ kind: 'rule-set', revision: 0, eventsFolded: 1, asOf: new Date(between).toISOString() });
      expect(priorities(served.now)).toEqual([10, 20]);

      const missing = await crm(['history', 'sequence', randomUUID()], viaServer);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^crm: no sequence /);

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      const local = await read(env);
      expect(local.events).toEqual(served.events);
      expect(local.then).toEqual(served.then);
      expect(local.now).toEqual(served.now);

      const kind = await crm(['history', 'contact', companyId], env);
      expect(kind.code).toBe(2);
      expect(kind.stderr).toMatch(/unknown kind 'contact'/);
      const badId = await crm(['state', 'bucket', companyId], env);
      expect(badId.code).toBe(2);
      expect(badId.stderr).toMatch(/<companyId>\.<credentialId>\.<YYYY-MM-DD>/);
      const badTime = await crm(['state', 'rule-set', companyId, '--as-of', 'yesterday'], env);
      expect(badTime.code).toBe(2);
    } finally {
      dir.remove();
    }
  }, 180_000);
});
