import { createHash } from 'node:crypto';

/**
 * A UUID (version 8, RFC 9562) made from the SHA-256 of the given parts: the same facts always name the same
 * stream or event, which is what makes dedup keys, suppressions and webhook replays idempotent.
 */
export function derivedUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000'), 'utf8').digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
