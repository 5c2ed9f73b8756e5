import { requestFields } from './request-context.js';

/**
 * A small structured (JSON lines) logger. Everything that is logged passes `redact`, so a bearer token or a
 * secret that slipped into a message or a field never reaches the log.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const TOKEN = /pcp_(?:board_)?[0-9a-fA-F]{16,}/g;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@/?#\s]+@/gi;
/** An unsubscribe link's token is a capability (whoever holds it may unsubscribe that recipient). */
const UNSUBSCRIBE_TOKEN = /(\/unsubscribe\/)[A-Za-z0-9_-]{16,}/g;
const SENSITIVE_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|cookie|value$/i;

/** Masks bearer tokens, passwords in URLs, unsubscribe tokens and fields whose name says they are secret. */
export function redact(value: unknown, key = '', depth = 0): unknown {
  if (typeof value === 'string') {
    if (key && SENSITIVE_KEY.test(key)) return '[redacted]';
    return value.replace(TOKEN, '[redacted-token]').replace(URL_PASSWORD, '$1[redacted]@').replace(UNSUBSCRIBE_TOKEN, '$1[redacted]');
  }
  if (value instanceof Error) return { name: value.name, message: redact(value.message) };
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, key, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'string' || typeof v === 'object' ? redact(v, k, depth + 1) : v;
  return out;
}

export function createLogger(
  level: LogLevel = 'info',
  sink: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  base: Record<string, unknown> = {},
): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const record = {
      time: new Date().toISOString(),
      level: lvl,
      msg: redact(msg),
      ...(redact({ ...requestFields(), ...base, ...fields }) as object),
    };
    sink(JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

export const silentLogger: Logger = createLogger('silent');
