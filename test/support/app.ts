import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.js';
import type { BrandVoiceChecker } from '../../src/brand-voice/checker.js';
import type { ChannelAdapters } from '../../src/channels/port.js';
import { issueBoardToken } from '../../src/commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type LogLevel, type Logger, createLogger, silentLogger } from '../../src/logger.js';
import { type Runtime, createRuntime } from '../../src/runtime.js';
import { pgliteDatabase, postgresDatabase } from './databases.js';

export interface TestApp {
  rt: Runtime;
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** An admin board token issued straight through the command, as the CLI does. */
export async function adminToken(rt: Runtime): Promise<string> {
  const issued = await issueBoardToken(
    rt.store,
    { userId: 'test-admin', instanceAdmin: true, companyIds: [], ttlDays: 0 },
    LOCAL_OPERATOR,
    rt.now(),
  );
  await rt.engine.waitFor(issued.position!);
  return issued.token;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), dataDir: join(tmpdir(), 'crm-unused'), logLevel: 'silent', ...overrides };
}

/** The real app on a fresh in-memory PGlite or a fresh Postgres schema, projections running. */
export async function startTestApp(
  backend: 'pglite' | 'postgres',
  opts: {
    logger?: Logger;
    config?: Partial<Config>;
    now?: () => Date;
    checker?: BrandVoiceChecker;
    adapters?: Partial<ChannelAdapters>;
  } = {},
): Promise<TestApp> {
  const t = backend === 'pglite' ? await pgliteDatabase() : await postgresDatabase();
  // TEST_LOG=warn (or debug) shows the service's own log while debugging a test.
  const logger =
    opts.logger ??
    (process.env.TEST_LOG ? createLogger(process.env.TEST_LOG as LogLevel, (l) => process.stderr.write(`${l}\n`)) : silentLogger);
  const rt = await createRuntime(testConfig({ secretsMasterKey: TEST_MASTER_KEY, ...opts.config }), logger, {
    db: t.db,
    now: opts.now,
    checker: opts.checker,
    adapters: opts.adapters,
  });
  await rt.engine.start();
  return {
    rt,
    app: createApp(rt),
    async close() {
      await rt.close();
      await t.drop();
    },
  };
}

export function tempDir(prefix = 'crm-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
