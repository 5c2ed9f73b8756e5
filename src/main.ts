import { createApp } from './app.js';
import { SYSTEM_ACTOR } from './commands/actor.js';
import { syncHookRegistryAtStart } from './commands/post-issue-hooks.js';
import { ConfigError, loadConfig } from './config.js';
import { EventStoreSettingsError } from './eventstore/sql-event-store.js';
import { createHttpServer } from './http/server.js';
import { createLogger } from './logger.js';
import { installProcessErrorPolicy } from './process-errors.js';
import { createRuntime } from './runtime.js';
import { MasterKeyMismatchError } from './secrets/key-check.js';
import { DataDirBusyError } from './sql/data-dir-lock.js';

// Longer than the slowest in-flight work: a post-issue webhook (3 attempts x 5 s, with backoff).
const SHUTDOWN_GRACE_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`crm-outreach: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  installProcessErrorPolicy(logger);
  let rt;
  try {
    rt = await createRuntime(config, logger);
  } catch (err) {
    if (
      err instanceof DataDirBusyError ||
      err instanceof ConfigError ||
      err instanceof EventStoreSettingsError ||
      err instanceof MasterKeyMismatchError
    ) {
      process.stderr.write(`crm-outreach: ${err.message}\n`);
      process.exit(1);
    }
    logger.error('could not start: a backend is unreachable or failing', { error: err });
    process.exit(1);
  }
  if (config.authMode === 'authenticated' && !config.publicUrlConfigured) {
    // Emails carry unsubscribe links on this URL: recipients elsewhere cannot reach http://HOST:PORT.
    logger.warn('CRM_PUBLIC_URL is not set: unsubscribe links point at this machine only', { publicUrl: config.publicUrl });
  }
  await rt.engine.start();
  rt.reconciler.start();
  rt.sequences.start();
  await syncHookRegistryAtStart(rt, SYSTEM_ACTOR, logger).catch((err: unknown) =>
    logger.warn('post-issue hooks registry not synced at start', { error: err }),
  );
  const app = createApp(rt);
  let stopping = false;
  const server = createHttpServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`crm-outreach: cannot listen on ${config.host}:${config.port}${code ? ` (${code})` : ''}\n`);
    await rt.close().catch(() => {});
    process.exit(1);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('crm-outreach listening', {
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    eventStore: rt.store.kind,
    readModels: rt.db.kind,
  });

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    // Stop accepting, let in-flight requests finish, then stop projections at a checkpoint and close pools.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // A keep-alive connection becomes idle once its in-flight request is answered: close it then.
      const reaper = setInterval(() => server.closeIdleConnections(), 50);
      reaper.unref();
      server.closeIdleConnections();
    });
    await rt.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

void main();
