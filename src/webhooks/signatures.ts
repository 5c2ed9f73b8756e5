import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The header's hex HMAC-SHA256 of the raw body equals ours; compared in constant time. */
export function hmacHexMatches(rawBody: Buffer, secret: string, headerHex: string | undefined): boolean {
  if (typeof headerHex !== 'string' || !/^[0-9a-f]{64}$/i.test(headerHex)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(headerHex, 'hex'));
}

/** `sha256=<hex>` (Meta's X-Hub-Signature-256, our X-CRM-Signature-256). */
export function prefixedHmacMatches(rawBody: Buffer, secret: string, header: string | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  return hmacHexMatches(rawBody, secret, header.slice('sha256='.length));
}

/** A shared secret sent as is: hashed first so that the comparison takes the same time whatever the lengths. */
export function sharedSecretMatches(secret: string, header: string | undefined): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 1024) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(secret), digest(header));
}

export const headerOf = (headers: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? undefined : v;
};
