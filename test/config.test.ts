import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackHost, loadConfig } from '../src/config.js';

describe('configuration from the environment', () => {
  it('has defaults that serve on loopback with embedded data in ./data', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, host: '127.0.0.1', logLevel: 'info', databaseUrl: undefined, eventStoreUrl: undefined });
    expect(c.dataDir.endsWith('/data')).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      CRM_DATA_DIR: '/tmp/x',
      DATABASE_URL: 'postgres://u@h:5432/d',
      EVENTSTORE_URL: 'esdb://h:2113?tls=false',
      LOG_LEVEL: 'debug',
      CRM_EGRESS_ALLOW: '10.20.0.0/16,relay.internal:2525',
      CRM_SEQUENCE_TICK_MS: '250',
    });
    expect(c).toEqual({
      port: 8080,
      host: '0.0.0.0',
      dataDir: '/tmp/x',
      databaseUrl: 'postgres://u@h:5432/d',
      eventStoreUrl: 'esdb://h:2113?tls=false',
      logLevel: 'debug',
      authMode: 'authenticated',
      secretsMasterKey: undefined,
      boardTokenTtlDays: 30,
      llm: null,
      postIssueHooksPath: expect.stringMatching(/config\/post-issue-hooks\.yaml$/),
      dispatchLeaseMs: 300000,
      sequenceTickMs: 250,
      sendsPerCompany: null,
      smtpTimeouts: { connectMs: 10000, greetingMs: 8000, socketMs: 30000 },
      smtpPool: { maxConnections: null, idleMs: 30000 },
      egressAllow: { cidrs: ['10.20.0.0/16'], hostPorts: ['relay.internal:2525'] },
      publicUrl: 'http://0.0.0.0:8080',
      publicUrlConfigured: false,
    });
  });

  it('builds unsubscribe links on CRM_PUBLIC_URL, else on HOST and PORT', () => {
    expect(loadConfig({}).publicUrl).toBe('http://127.0.0.1:3000');
    expect(loadConfig({ HOST: '::1', PORT: '4000' }).publicUrl).toBe('http://[::1]:4000');
    expect(loadConfig({ CRM_PUBLIC_URL: 'https://crm.example.com/base/' }).publicUrl).toBe('https://crm.example.com/base');
    expect(loadConfig({ CRM_PUBLIC_URL: 'https://crm.example.com/base/' }).publicUrlConfigured).toBe(true);
  });

  it('refuses an http:// CRM_PUBLIC_URL in authenticated mode or on a non-loopback host: one-click unsubscribe is HTTPS (RFC 8058 §3.1)', () => {
    for (const env of [
      { CRM_PUBLIC_URL: 'http://crm.example.com' },
      { CRM_PUBLIC_URL: 'http://10.0.0.5:3000' },
      { CRM_PUBLIC_URL: 'http://127.0.0.1:3000', CRM_AUTH_MODE: 'authenticated' },
      { CRM_PUBLIC_URL: 'http://localhost:3000', HOST: '0.0.0.0' },
      { CRM_PUBLIC_URL: 'HTTP://[::1]:3000', CRM_AUTH_MODE: 'authenticated' },
    ]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(/^invalid configuration:\n  CRM_PUBLIC_URL: must be https:\/\/ [^\n]+$/);
    }
    // One operator on this machine, in local_trusted mode: the links only ever reach this machine.
    expect(loadConfig({ CRM_PUBLIC_URL: 'http://127.0.0.1:3000' }).publicUrl).toBe('http://127.0.0.1:3000');
    expect(loadConfig({ CRM_PUBLIC_URL: 'http://[::1]:3000' }).publicUrl).toBe('http://[::1]:3000');
    expect(loadConfig({ CRM_PUBLIC_URL: 'http://localhost:3000/' }).publicUrl).toBe('http://localhost:3000');
    expect(loadConfig({ CRM_PUBLIC_URL: 'https://crm.example.com', HOST: '0.0.0.0' }).publicUrl).toBe('https://crm.example.com');
  });

  it('defaults to local_trusted on loopback and authenticated elsewhere', () => {
    expect(loadConfig({}).authMode).toBe('local_trusted');
    expect(loadConfig({ HOST: '0.0.0.0' }).authMode).toBe('authenticated');
    expect(loadConfig({ CRM_AUTH_MODE: 'authenticated' }).authMode).toBe('authenticated');
  });

  it('refuses local_trusted on a non-loopback HOST with a clear message', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0', CRM_AUTH_MODE: 'local_trusted' })).toThrow(/only allowed on a loopback HOST/);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['EVENTSTORE_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['CRM_AUTH_MODE', 'open'],
    ['CRM_BOARD_TOKEN_TTL_DAYS', '-1'],
    ['CRM_LLM_BASE_URL', 'ftp://x'],
    ['CRM_LLM_TIMEOUT_MS', '5'],
    ['CRM_PUBLIC_URL', 'crm.example.com'],
    ['CRM_PUBLIC_URL', 'ftp://crm.example.com'],
    ['CRM_PUBLIC_URL', 'https://crm.example.com/?a=1'],
    ['CRM_SENDS_PER_COMPANY', '0'],
    ['CRM_SENDS_PER_COMPANY', '1.5'],
    ['CRM_SMTP_CONNECT_TIMEOUT_MS', '10'],
    ['CRM_SMTP_GREETING_TIMEOUT_MS', 'soon'],
    ['CRM_SMTP_SOCKET_TIMEOUT_MS', '999999999'],
    ['CRM_SMTP_POOL_CONNECTIONS', '0'],
    ['CRM_SMTP_POOL_IDLE_MS', '10'],
  ])('refuses %s=%s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });

  it('does not echo a bad value that may hold a password', () => {
    try {
      loadConfig({ DATABASE_URL: 'mysql://user:hunter2@h/d' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('reads the per-company send share, the SMTP timeouts and the SMTP pool', () => {
    const c = loadConfig({
      CRM_SENDS_PER_COMPANY: '3',
      CRM_SMTP_CONNECT_TIMEOUT_MS: '1500',
      CRM_SMTP_GREETING_TIMEOUT_MS: '2500',
      CRM_SMTP_SOCKET_TIMEOUT_MS: '20000',
      CRM_SMTP_POOL_CONNECTIONS: '4',
      CRM_SMTP_POOL_IDLE_MS: '60000',
    });
    expect(c.sendsPerCompany).toBe(3);
    expect(c.smtpTimeouts).toEqual({ connectMs: 1500, greetingMs: 2500, socketMs: 20000 });
    expect(c.smtpPool).toEqual({ maxConnections: 4, idleMs: 60000 });
  });

  it('wants the LLM URL and key together', () => {
    expect(() => loadConfig({ CRM_LLM_BASE_URL: 'http://127.0.0.1:9' })).toThrow(/go together/);
    expect(loadConfig({ CRM_LLM_BASE_URL: 'http://127.0.0.1:9', CRM_LLM_API_KEY: 'k' }).llm).toMatchObject({
      model: 'gpt-4o-mini',
      timeoutMs: 20000,
    });
  });

  it('knows loopback hosts', () => {
    expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].some(isLoopbackHost)).toBe(false);
  });
});
