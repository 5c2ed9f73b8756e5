import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/app.js';
import { freePort, startServer, waitHealthy } from './support/processes.js';

describe('the server process', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('exits 1 with a clear message on a bad configuration value', async () => {
    const s = startServer({ PORT: 'not-a-port' });
    children.push(s.child);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/invalid configuration:\s+PORT:/);
    expect(s.output()).not.toMatch(/at .*\.ts:\d+/);
  });

  it('refuses to start with an http:// CRM_PUBLIC_URL in authenticated mode, in one line naming it', async () => {
    const s = startServer({ CRM_AUTH_MODE: 'authenticated', CRM_PUBLIC_URL: 'http://crm.example.com', PORT: String(await freePort()) });
    children.push(s.child);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/^crm-outreach: invalid configuration:\n  CRM_PUBLIC_URL: must be https:\/\/ [^\n]+\n$/);
  });

  it('starts on an empty data folder, shuts down gracefully on SIGTERM, and restarts with its data', async () => {
    const dir = tempDir();
    try {
      const port = await freePort();
      const env = { PORT: String(port), CRM_DATA_DIR: dir.path };
      const first = startServer(env);
      children.push(first.child);
      await waitHealthy(port, 60_000);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain('"msg":"stopped"');

      const second = startServer(env);
      children.push(second.child);
      await waitHealthy(port, 60_000);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
    } finally {
      dir.remove();
    }
  }, 120_000);

  it('`npm start` passes SIGTERM on: the server stops gracefully, not orphaned', async () => {
    const dir = tempDir();
    try {
      const port = await freePort();
      const npm = spawn('npm', ['start'], {
        env: { ...process.env, LOG_LEVEL: 'info', PORT: String(port), CRM_DATA_DIR: dir.path },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(npm);
      let out = '';
      npm.stdout!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
      await waitHealthy(port, 60_000);
      npm.kill('SIGTERM');
      await exited;
      // The port is free again: the server itself went, and said so.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
      expect(out).toContain('"msg":"stopped"');
    } finally {
      dir.remove();
    }
  }, 120_000);

  it('refuses a data folder another live process holds', async () => {
    const dir = tempDir();
    try {
      const port = await freePort();
      const first = startServer({ PORT: String(port), CRM_DATA_DIR: dir.path });
      children.push(first.child);
      await waitHealthy(port, 60_000);
      const second = startServer({ PORT: String(await freePort()), CRM_DATA_DIR: dir.path });
      children.push(second.child);
      expect(await second.exited).toBe(1);
      expect(second.output()).toMatch(/in use by process/);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
    } finally {
      dir.remove();
    }
  }, 120_000);
});
