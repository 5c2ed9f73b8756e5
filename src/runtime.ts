import { join } from 'node:path';
import type { Config } from './config.js';
import type { EventStore } from './eventstore/port.js';
import { createSqlEventStore } from './eventstore/sql-event-store.js';
import type { Logger } from './logger.js';
import { ProjectionEngine } from './projections/engine.js';
import { RebuildJobs } from './projections/rebuild-jobs.js';
import { allProjections } from './projections/index.js';
import type { Projection } from './projections/projection.js';
import type { BrandVoiceChecker } from './brand-voice/checker.js';
import { guideChecker } from './brand-voice/guide-checker.js';
import { llmChecker } from './brand-voice/llm-checker.js';
import { calComAdapter } from './channels/cal-com.js';
import { type EgressPolicy, egressPolicy } from './channels/egress.js';
import { EmailAdapter } from './channels/email.js';
import { SmtpPools } from './channels/smtp-pools.js';
import { instagramAdapter } from './channels/instagram.js';
import { linkedInAdapter } from './channels/linkedin.js';
import type { ChannelAdapters } from './channels/port.js';
import { whatsAppAdapter } from './channels/whatsapp.js';
import { AggregateCache } from './commands/aggregate-cache.js';
import { timeAppends } from './eventstore/timed-appends.js';
import { Metrics } from './metrics.js';
import { BrandVoiceService } from './commands/brand-voice.js';
import { Dispatcher } from './commands/dispatch.js';
import { sharedQuotaLookup } from './projections/outboxes.js';
import { Reconciler } from './commands/reconciler.js';
import { Leadership } from './projections/leadership.js';
import { SCHEDULER_LOCK, SequenceScheduler } from './sequences/scheduler.js';
import { withSuppressions } from './commands/suppression-adapters.js';
import type { MasterKey } from './secrets/crypto.js';
import { checkMasterKey } from './secrets/key-check.js';
import { KEY_FILE, loadMasterKey } from './secrets/master-key.js';
import { type UnsubscribeTokens, unsubscribeTokens } from './secrets/unsubscribe-token.js';
import { lockDataDir } from './sql/data-dir-lock.js';
import type { Db } from './sql/db.js';
import { createPgDb } from './sql/pg-db.js';
import { createPgliteDb } from './sql/pglite-db.js';
import { migrateReadModels } from './projections/read-model-migrations.js';

/**
 * How many sends the dispatcher runs at once, on either backend. PGlite runs one query at a time, but what
 * queues at it is what its group commits batch: 64 slots gave 199 email sends/s over HTTP where 4 gave 67
 * (bench:http, docs/ARCHITECTURE.md). A slot is also held during the provider's call, which uses no database.
 */
export const SEND_SLOTS = 64;

/** Everything the service runs on, wired from the configuration: the composition root. */
export interface Runtime {
  config: Config;
  logger: Logger;
  db: Db;
  store: EventStore;
  engine: ProjectionEngine;
  /** Rebuilds started over HTTP, kept for polling. */
  rebuilds: RebuildJobs;
  masterKey: MasterKey;
  /** Seals and opens the tokens of one-click unsubscribe links. */
  unsubscribeTokens: UnsubscribeTokens;
  brandVoice: BrandVoiceService;
  /** Where a company's configuration may make this server connect (provider base URLs, SMTP hosts). */
  egress: EgressPolicy;
  /** Folded aggregates for the commands on the streams that grow (allowlist, approval rules). */
  aggregates: AggregateCache;
  dispatcher: Dispatcher;
  reconciler: Reconciler;
  /** The sequence cron: sends due steps through the dispatcher (`runOnce` for tests that move the clock). */
  sequences: SequenceScheduler;
  /** Prometheus metrics (`GET /metrics`). */
  metrics: Metrics;
  /** The clock, injectable so that tests can move time (token expiry, quota days). */
  now(): Date;
  close(): Promise<void>;
}

function defaultAdapters(config: Config, egress: EgressPolicy, smtpPools: SmtpPools): ChannelAdapters {
  return {
    email: new EmailAdapter(config.smtpTimeouts, egress, smtpPools),
    'cal-com': calComAdapter({ egress }),
    linkedin: linkedInAdapter({ egress }),
    whatsapp: whatsAppAdapter({ egress }),
    instagram: instagramAdapter({ egress }),
  };
}

async function openEventStore(config: Config, db: Db): Promise<EventStore> {
  if (!config.eventStoreUrl) return createSqlEventStore(db);
  // Loaded only when configured: the gRPC client is heavy and most installs never use it.
  const { createEventStoreDbStore } = await import('./eventstore/eventstoredb.js');
  return createEventStoreDbStore(config.eventStoreUrl);
}

export async function createRuntime(
  config: Config,
  logger: Logger,
  options: {
    projections?: Projection[];
    db?: Db;
    now?: () => Date;
    checker?: BrandVoiceChecker;
    /** Channel adapters to use instead of the real ones (benchmarks; never reachable over HTTP). */
    adapters?: Partial<ChannelAdapters>;
  } = {},
): Promise<Runtime> {
  const masterKey = loadMasterKey(config.secretsMasterKey, config.dataDir);
  let unlock = () => {};
  let db = options.db;
  if (!db) {
    if (config.databaseUrl) {
      db = createPgDb({ connectionString: config.databaseUrl });
    } else {
      unlock = lockDataDir(config.dataDir);
      db = await createPgliteDb(join(config.dataDir, 'pglite')).catch((err: unknown) => {
        unlock();
        throw err;
      });
    }
  }
  try {
    const store = await openEventStore(config, db);
    await migrateReadModels(db);
    // Before anything can seal or open a secret: an instance with another key would do both wrongly.
    await checkMasterKey(db, store, masterKey, {
      logger: logger.child({ component: 'secrets' }),
      keySource: config.secretsMasterKey ? 'CRM_SECRETS_MASTER_KEY' : join(config.dataDir, KEY_FILE),
    }).catch(async (err: unknown) => {
      await store.close().catch(() => {});
      throw err;
    });
    const engine = new ProjectionEngine({
      store,
      db,
      projections: options.projections ?? allProjections(),
      logger: logger.child({ component: 'projections' }),
    });
    const ownedDb = db;
    const now = options.now ?? (() => new Date());
    const checker = options.checker ?? (config.llm ? llmChecker(config.llm) : guideChecker);
    const tokens = unsubscribeTokens(masterKey);
    // local_trusted is one operator on loopback, whose own relays and stand-ins are fine to call.
    const egress = egressPolicy({ restricted: config.authMode === 'authenticated', allow: config.egressAllow });
    // Sized for the dispatcher: a hot credential may use every send slot its company gets.
    const smtpPools = new SmtpPools({
      maxConnections: config.smtpPool.maxConnections ?? SEND_SLOTS,
      idleMs: config.smtpPool.idleMs,
    });
    const adapters = withSuppressions(
      { ...defaultAdapters(config, egress, smtpPools), ...options.adapters },
      { store, now, logger: logger.child({ component: 'suppressions' }), tokens, publicUrl: config.publicUrl },
    );
    const metrics = new Metrics({ db, projections: () => engine.status(), now });
    timeAppends(store, metrics.appendDuration);
    const aggregates = new AggregateCache(store);
    const sendLog = logger.child({ component: 'dispatcher' });
    const dispatcher = new Dispatcher({
      store,
      sharedQuota: sharedQuotaLookup(db),
      masterKey,
      now,
      adapters,
      leaseMs: config.dispatchLeaseMs,
      logger: logger.child({ component: 'dispatcher' }),
      cache: aggregates,
      maxConcurrentSends: SEND_SLOTS,
      maxSendsPerCompany: config.sendsPerCompany ?? undefined,
      onOutcome: (o) => {
        sendLog.info('send decided', { ...o });
        metrics.sends.inc({ channel: o.channel, status: o.status });
      },
    });
    const reconciler = new Reconciler({
      db,
      dispatcher,
      now,
      leaseMs: config.dispatchLeaseMs,
      logger: logger.child({ component: 'reconciler' }),
      onSettled: () => metrics.settlements.inc(),
    });
    const sequences = new SequenceScheduler(
      {
        store,
        db,
        dispatcher,
        now,
        logger: logger.child({ component: 'sequences' }),
        leadership: new Leadership(db, [SCHEDULER_LOCK], 1000, (err) =>
          logger.warn('sequence scheduler leadership session lost; standing by', { error: err }),
        ),
        onStepSent: (lateMs) => metrics.stepLag.observe(Math.max(0, lateMs) / 1000),
      },
      { everyMs: config.sequenceTickMs },
    );
    return {
      config,
      logger,
      db,
      store,
      engine,
      rebuilds: new RebuildJobs(now, logger.child({ component: 'projections' })),
      masterKey,
      unsubscribeTokens: tokens,
      brandVoice: new BrandVoiceService({ store, db, engine, checker, now }),
      egress,
      aggregates,
      dispatcher,
      reconciler,
      sequences,
      metrics,
      now,
      async close() {
        await reconciler.stop();
        await sequences.stop();
        await dispatcher.close();
        smtpPools.close();
        await egress.close();
        await engine.stop();
        await store.close();
        if (!options.db) await ownedDb.close();
        unlock();
      },
    };
  } catch (err) {
    if (!options.db) await db.close().catch(() => {});
    unlock();
    throw err;
  }
}
