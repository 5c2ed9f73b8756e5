import { setTimeout as sleep } from 'node:timers/promises';
import { FormData, type Response, fetch } from 'undici';
import { type EgressPolicy, UNRESTRICTED } from './egress.js';
import { ChannelError } from './port.js';

/** Limits of one provider call; tests shorten them. */
export interface HttpProviderOptions {
  /** Per attempt, reply body included. */
  timeoutMs?: number;
  /** Further attempts after a reply that proves the provider did not take the request. */
  maxRetries?: number;
  /** A longer `Retry-After` is not waited for: the send fails (transient) rather than hang. */
  maxRetryAfterMs?: number;
  /** Which addresses the provider's host may resolve to; the runtime passes the instance's. */
  egress?: EgressPolicy;
}

const DEFAULT_HTTP_OPTIONS: Required<HttpProviderOptions> = {
  timeoutMs: 15_000,
  maxRetries: 2,
  maxRetryAfterMs: 5_000,
  egress: UNRESTRICTED,
};

export interface ProviderReply {
  status: number;
  /** The parsed JSON body, or null when the body is empty or not JSON. */
  body: unknown;
}

/** What a provider's error body says; the module falls back to `<prefix>_<status>`. */
export interface ProviderErrorReading {
  code?: string;
  message?: string;
  /** The provider refused for now (throttling, whatever the HTTP status): it did not take the request. */
  retryLater?: boolean;
}

export interface ProviderCall {
  /** Names codes (`calcom_400`, `unipile_timeout`) and messages. */
  prefix: string;
  label: string;
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  /** A plain value is sent as JSON; FormData (undici's, which its fetch knows) as multipart. */
  body?: unknown;
  /**
   * True when sending the request twice cannot deliver twice (a read). A send is not: it is retried only
   * when the provider surely did not take it, and a lost reply is an unknown outcome.
   */
  idempotent?: boolean;
  /** The credential, scrubbed from any provider text we repeat. */
  credential: string;
  readError(reply: ProviderReply): ProviderErrorReading;
}

/** Connection failures that happen before the request is written: nothing reached the provider. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** A failed attempt; `delayMs` null means the default backoff. */
type Attempt = { error: ChannelError; retryable: boolean; delayMs: number | null };

/**
 * One provider request with a timeout, bounded retries and error classification shared by every HTTP
 * channel adapter. Resolves with a 2xx reply; otherwise throws a `ChannelError` that says whether the
 * provider may have taken the request (`refundable: false`).
 */
export async function callProvider(call: ProviderCall, options: HttpProviderOptions = {}): Promise<ProviderReply> {
  const o = { ...DEFAULT_HTTP_OPTIONS, ...options };
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptOnce(call, o);
    if (!('error' in outcome)) return outcome;
    if (!outcome.retryable || attempt >= o.maxRetries) throw outcome.error;
    await sleep(outcome.delayMs ?? backoffMs(attempt));
  }
}

async function attemptOnce(call: ProviderCall, o: Required<HttpProviderOptions>): Promise<ProviderReply | Attempt> {
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  let body: string | FormData | undefined;
  if (call.body instanceof FormData) body = call.body;
  else if (call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers['content-type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: call.method,
      headers,
      body,
      signal: AbortSignal.timeout(o.timeoutMs),
      // A redirect would carry the credential header to wherever it points (and turn a POST into a GET).
      redirect: 'manual',
      // Checks every address the connection dials (the company chose the host).
      dispatcher: o.egress.dispatcher,
    });
  } catch (err) {
    return networkFailure(call, err);
  }
  // Once the status is in, it decides: a body cut short only loses the details (a 2xx is still taken).
  const text = await res.text().catch(() => '');
  const reply: ProviderReply = { status: res.status, body: parseJson(text) };
  if (res.status >= 200 && res.status < 300) return reply;
  return replyFailure(call, reply, res.headers.get('retry-after'), o);
}

/**
 * A failure without a reply. The code and message say only whether the request may have been taken: a refused
 * connection, a silent port and a service that does not speak HTTP read alike, so that errors cannot map what
 * listens where. Which one it was decides only the refund and the retry.
 */
function networkFailure(call: ProviderCall, err: unknown): Attempt {
  const e = err as { name?: string; cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
  if (e.cause?.code === 'EGRESS_REFUSED') {
    // Refused before any connection: nothing was sent, and trying again would be refused again.
    return {
      error: new ChannelError('egress_refused', `${call.label}: ${e.cause.message ?? 'the address is refused'}`, false, true),
      retryable: false,
      delayMs: 0,
    };
  }
  // Several addresses tried (IPv4 and IPv6) fail as one AggregateError.
  const code = e.cause?.code ?? e.cause?.errors?.[0]?.code ?? '';
  if ((!timedOut && NOT_SENT.has(code)) || call.idempotent) {
    return { error: new ChannelError('network_error', `${call.label} could not be reached`, true), retryable: true, delayMs: null };
  }
  // The request may have been taken: the unit stays spent and the message is not sent again.
  return {
    error: new ChannelError(
      `${call.prefix}_outcome_unknown`,
      `the connection to ${call.label} failed after the request was sent: the outcome is unknown`,
      false,
      false,
    ),
    retryable: false,
    delayMs: 0,
  };
}

function replyFailure(call: ProviderCall, reply: ProviderReply, retryAfter: string | null, o: Required<HttpProviderOptions>): Attempt {
  const said = call.readError(reply);
  const code = said.code ?? `${call.prefix}_${reply.status}`;
  const detail = said.message ? `: ${scrub(said.message, call.credential)}` : '';
  const message = `${call.label} answered ${reply.status}${detail}`;
  // 429 and 503 (or a provider's throttling code) mean the request was refused, not taken: safe to repeat.
  if (reply.status === 429 || reply.status === 503 || said.retryLater) {
    const wait = retryAfterMs(retryAfter);
    const error = new ChannelError(code, message, true);
    if (wait !== null && wait > o.maxRetryAfterMs) return { error, retryable: false, delayMs: 0 };
    return { error, retryable: true, delayMs: wait };
  }
  if (reply.status >= 500 || reply.status === 408) {
    // A server error or a gateway timeout may come after the provider acted on the request.
    if (call.idempotent) return { error: new ChannelError(code, message, true), retryable: true, delayMs: null };
    return { error: new ChannelError(code, message, true, false), retryable: false, delayMs: 0 };
  }
  return { error: new ChannelError(code, message, false), retryable: false, delayMs: 0 };
}

const backoffMs = (attempt: number) => Math.min(250 * 2 ** attempt, 2_000);

/** `Retry-After` in seconds or as an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP date names its day and month; Date.parse alone would read '-1' as a year.
  const at = /[a-z]{3}/i.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Provider text is repeated to the client only short, on one line, and without the credential. */
function scrub(text: string, credential: string): string {
  let t = text;
  if (credential.length >= 4) t = t.split(credential).join('[redacted]');
  t = t.replace(/\s+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 297)}...` : t;
}

/** A JSON object's property, when the body is an object. */
export function field(body: unknown, key: string): unknown {
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[key] : undefined;
}

/** Joins a configured base URL and a path, whether or not the base ends with a slash. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
