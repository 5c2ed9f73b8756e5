import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { type EgressAllowance, parseEgressAllow } from './channels/egress.js';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

export function isLoopbackHost(host: string): boolean {
  if (LOOPBACK_NAMES.has(host)) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return false;
}

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL with scheme ${protocols.map((p) => p.replace(':', '://')).join(' or ')}`,
    );

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  CRM_DATA_DIR: z.string().trim().min(1).default('./data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  EVENTSTORE_URL: url(['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:', 'kurrent:', 'kurrent+discover:']).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  CRM_AUTH_MODE: z.enum(['local_trusted', 'authenticated']).optional(),
  // Checked (and never echoed) where it is decoded: src/secrets/master-key.ts.
  CRM_SECRETS_MASTER_KEY: z.string().trim().min(1).optional(),
  CRM_BOARD_TOKEN_TTL_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  CRM_LLM_BASE_URL: url(['http:', 'https:']).optional(),
  CRM_LLM_API_KEY: z.string().trim().min(1).optional(),
  CRM_LLM_MODEL: z.string().trim().min(1).max(200).default('gpt-4o-mini'),
  CRM_LLM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
  CRM_POST_ISSUE_HOOKS_PATH: z.string().trim().min(1).default('config/post-issue-hooks.yaml'),
  CRM_DISPATCH_LEASE_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  CRM_SEQUENCE_TICK_MS: z.coerce.number().int().min(100).max(3_600_000).default(1000),
  // A bearer token for scrapers only (GET /metrics); long enough not to be guessed.
  CRM_METRICS_TOKEN: z.string().trim().min(24, 'must be at least 24 characters').max(512).optional(),
  CRM_EGRESS_ALLOW: z.string().optional(),
  CRM_SENDS_PER_COMPANY: z.coerce.number().int().min(1).max(10_000).optional(),
  CRM_SMTP_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  CRM_SMTP_GREETING_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(8_000),
  CRM_SMTP_SOCKET_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  CRM_SMTP_POOL_CONNECTIONS: z.coerce.number().int().min(1).max(1000).optional(),
  CRM_SMTP_POOL_IDLE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  CRM_PUBLIC_URL: url(['http:', 'https:'])
    .refine((v) => {
      try {
        const u = new URL(v);
        return !u.search && !u.hash && !u.username && !u.password;
      } catch {
        return true; // reported by the URL check
      }
    }, 'must be a base URL: no query, fragment or credentials')
    .optional(),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  eventStoreUrl: string | undefined;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  /** `local_trusted`: every request acts as an instance-admin board user (loopback only). */
  authMode: 'local_trusted' | 'authenticated';
  secretsMasterKey: string | undefined;
  /** Default lifetime of a board token; 0 means it never expires. */
  boardTokenTtlDays: number;
  /** An OpenAI-compatible endpoint for the brand-voice checker; both set, or the guide checker is used. */
  llm: { baseUrl: string; apiKey: string; model: string; timeoutMs: number } | null;
  postIssueHooksPath: string;
  /** How long a reservation may wait for its outcome before the reconciler settles it as interrupted. */
  dispatchLeaseMs: number;
  /** How often the sequence scheduler looks for due steps (ms). */
  sequenceTickMs: number;
  /** Lets a scraper read GET /metrics without an admin's token; unset: instance admins only. */
  metricsToken: string | undefined;
  /** Sends one company may run at once; null: half the dispatcher's slots. */
  sendsPerCompany: number | null;
  /** SMTP: to set the session up (connect, greeting, STARTTLS), for the greeting, and of silence afterwards (ms). */
  smtpTimeouts: { connectMs: number; greetingMs: number; socketMs: number };
  /**
   * Pooled SMTP connections per credential (null: as many as the dispatcher runs sends at once), and how long one
   * (and a pool) may stay unused before it is closed.
   */
  smtpPool: { maxConnections: number | null; idleMs: number };
  /** Internal addresses a company's provider or SMTP host may still reach in authenticated mode (CRM_EGRESS_ALLOW). */
  egressAllow: EgressAllowance;
  /** Where recipients reach this service (one-click unsubscribe links), without a trailing slash. */
  publicUrl: string;
  /** Whether CRM_PUBLIC_URL set it (else it is HOST and PORT, reachable from this machine only). */
  publicUrlConfigured: boolean;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the configuration from the environment; throws a `ConfigError` naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable counts as unset, as shells and compose files often leave them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const loopback = isLoopbackHost(e.HOST);
  const authMode = e.CRM_AUTH_MODE ?? (loopback ? 'local_trusted' : 'authenticated');
  if (authMode === 'local_trusted' && !loopback) {
    throw new ConfigError(
      `invalid configuration:\n  CRM_AUTH_MODE: local_trusted trusts every request, so it is only allowed on a loopback HOST (got ${e.HOST}); use CRM_AUTH_MODE=authenticated`,
    );
  }
  if (Boolean(e.CRM_LLM_BASE_URL) !== Boolean(e.CRM_LLM_API_KEY)) {
    throw new ConfigError('invalid configuration:\n  CRM_LLM_BASE_URL and CRM_LLM_API_KEY go together: set both, or neither');
  }
  if (e.CRM_PUBLIC_URL && new URL(e.CRM_PUBLIC_URL).protocol === 'http:') {
    const linkHost = new URL(e.CRM_PUBLIC_URL).hostname.replace(/^\[(.*)\]$/, '$1');
    // RFC 8058 §3.1: the one-click URI must be HTTPS. Plain http only reaches this machine's own operator.
    if (authMode === 'authenticated' || !isLoopbackHost(linkHost)) {
      throw new ConfigError(
        `invalid configuration:\n  CRM_PUBLIC_URL: must be https:// (one-click unsubscribe links are HTTPS, RFC 8058); http:// is only for a loopback host in local_trusted mode`,
      );
    }
  }
  let egressAllow: EgressAllowance;
  try {
    egressAllow = parseEgressAllow(e.CRM_EGRESS_ALLOW ?? '');
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  CRM_EGRESS_ALLOW: ${(err as Error).message}`);
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.CRM_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    eventStoreUrl: e.EVENTSTORE_URL,
    logLevel: e.LOG_LEVEL,
    authMode,
    secretsMasterKey: e.CRM_SECRETS_MASTER_KEY,
    boardTokenTtlDays: e.CRM_BOARD_TOKEN_TTL_DAYS,
    llm:
      e.CRM_LLM_BASE_URL && e.CRM_LLM_API_KEY
        ? { baseUrl: e.CRM_LLM_BASE_URL, apiKey: e.CRM_LLM_API_KEY, model: e.CRM_LLM_MODEL, timeoutMs: e.CRM_LLM_TIMEOUT_MS }
        : null,
    postIssueHooksPath: resolve(e.CRM_POST_ISSUE_HOOKS_PATH),
    dispatchLeaseMs: e.CRM_DISPATCH_LEASE_MS,
    sequenceTickMs: e.CRM_SEQUENCE_TICK_MS,
    metricsToken: e.CRM_METRICS_TOKEN,
    sendsPerCompany: e.CRM_SENDS_PER_COMPANY ?? null,
    smtpTimeouts: {
      connectMs: e.CRM_SMTP_CONNECT_TIMEOUT_MS,
      greetingMs: e.CRM_SMTP_GREETING_TIMEOUT_MS,
      socketMs: e.CRM_SMTP_SOCKET_TIMEOUT_MS,
    },
    smtpPool: { maxConnections: e.CRM_SMTP_POOL_CONNECTIONS ?? null, idleMs: e.CRM_SMTP_POOL_IDLE_MS },
    egressAllow,
    publicUrl: (e.CRM_PUBLIC_URL ?? `http://${isIP(e.HOST) === 6 ? `[${e.HOST}]` : e.HOST}:${e.PORT}`).replace(/\/+$/, ''),
    publicUrlConfigured: e.CRM_PUBLIC_URL !== undefined,
  };
}
