import { createHmac, randomUUID } from 'node:crypto';
import { retryAfterMs } from '../channels/http-provider.js';

export interface WebhookResult {
  ok: boolean;
  status: number | null;
  attempts: number;
  deliveryId: string;
  error?: string;
}

export interface WebhookOptions {
  timeoutMs?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
}

export const signBody = (key: string, body: string) => `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * POSTs a JSON body signed with HMAC-SHA256 (`X-CRM-Signature-256: sha256=<hex>`), with a timeout per attempt
 * and bounded retries on what may succeed later (network errors, timeouts, 429, 5xx; `Retry-After` honoured,
 * capped). Every attempt carries the same `X-CRM-Delivery` id, so that the receiver can drop repeats.
 */
export async function deliverWebhook(url: string, key: string, payload: unknown, opts: WebhookOptions = {}): Promise<WebhookResult> {
  const body = JSON.stringify(payload);
  const deliveryId = randomUUID();
  const maxAttempts = opts.maxAttempts ?? 3;
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'crm-outreach-hooks/1',
    'x-crm-delivery': deliveryId,
    'x-crm-signature-256': signBody(key, body),
  };
  let last: WebhookResult = { ok: false, status: null, attempts: 0, deliveryId };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    let wait = (opts.baseDelayMs ?? 200) * 2 ** (attempt - 1);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
        redirect: 'manual',
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, attempts: attempt, deliveryId };
      last = { ok: false, status: res.status, attempts: attempt, deliveryId, error: `HTTP ${res.status}` };
      if (res.status !== 429 && res.status < 500) return last;
      wait = Math.min(5000, retryAfterMs(res.headers.get('retry-after')) ?? wait);
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError';
      last = { ok: false, status: null, attempts: attempt, deliveryId, error: timedOut ? 'timeout' : 'unreachable' };
    }
    if (attempt < maxAttempts) await sleep(wait);
  }
  return last;
}
