import type { IncomingHttpHeaders } from 'node:http';
import type { InboundNotice } from './notices.js';

/** One provider's webhook: how its deliveries are authenticated, and what they mean. */
export interface WebhookProvider {
  /** Checked on the raw bytes, before anything is parsed. */
  verify(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string): boolean;
  /** Throws `WebhookPayloadError` for a body this provider does not send. */
  parse(body: unknown, now: Date): InboundNotice[];
  /** Answers Meta's GET subscription handshake. */
  verifyTokenHandshake?: boolean;
}
