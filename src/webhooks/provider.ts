import type { IncomingHttpHeaders } from 'node:http';
import type { InboundNotice } from './notices.js';

/** One provider's webhook: how its deliveries are authenticated, and what they mean. */
export interface WebhookProvider {
  /**
   * Checked on the raw bytes, before anything is parsed. `stale`: signed correctly, but at a time too far from
   * `now` (a replay, or a sender whose clock is off), for a scheme whose signature covers a time.
   */
  verify(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string, now: Date): boolean | 'stale';
  /** Throws `WebhookPayloadError` for a body this provider does not send. */
  parse(body: unknown, now: Date): InboundNotice[];
  /** Answers Meta's GET subscription handshake. */
  verifyTokenHandshake?: boolean;
}
