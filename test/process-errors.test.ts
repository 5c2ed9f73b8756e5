import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Runs `body` in a fresh Node process with the service's process-wide error policy installed. */
function runWithPolicy(body: string) {
  const script = `
    import { installProcessErrorPolicy } from './src/process-errors.ts';
    import { createLogger } from './src/logger.ts';
    installProcessErrorPolicy(createLogger('info'));
    ${body}
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return {
    code: r.status,
    lines: r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr: r.stderr,
  };
}

describe('the process-wide error policy', () => {
  it('a rejection nobody handled is logged at error level, redacted, and the process goes on', () => {
    const r = runWithPolicy(`
      Promise.reject(new Error('lost with pcp_board_${'a'.repeat(48)} inside'));
      setTimeout(() => console.log(JSON.stringify({ msg: 'still here' })), 100);
    `);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatchObject({ level: 'error', msg: 'unhandled promise rejection; going on' });
    expect(JSON.stringify(r.lines)).not.toContain('a'.repeat(48));
    expect(r.lines.at(-1)).toEqual({ msg: 'still here' });
  });

  it("a backend's connection error that escaped is logged and the process goes on", () => {
    const r = runWithPolicy(`
      setTimeout(() => { throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }); }, 10);
      setTimeout(() => console.log(JSON.stringify({ msg: 'still here' })), 200);
    `);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatchObject({ level: 'error', msg: 'uncaught backend connection error; going on' });
    expect(r.lines.at(-1)).toEqual({ msg: 'still here' });
  });

  it('any other uncaught exception is logged, without its stack, and ends the process with 1', () => {
    const r = runWithPolicy(`
      setTimeout(() => { throw new TypeError('a bug, with smtp://user:hunter2@mail.example.com'); }, 10);
      setTimeout(() => console.log(JSON.stringify({ msg: 'still here' })), 500);
    `);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatchObject({ level: 'error', msg: 'uncaught exception; exiting', error: { name: 'TypeError' } });
    expect(JSON.stringify(r.lines)).not.toContain('hunter2');
    expect(r.stderr).not.toMatch(/at .*:\\d+/);
  });
});
