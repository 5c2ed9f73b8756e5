import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { OUTBOX_CHANNELS, type OutboxChannel } from '../domain/channels.js';
import type { MasterKey } from './crypto.js';

/** Who a one-click unsubscribe link speaks for. */
export interface UnsubscribeSubject {
  companyId: string;
  /** Normalised recipient. */
  recipient: string;
  channel: OutboxChannel;
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from('crm-outreach unsubscribe v1', 'utf8');
/** Far above any real token (an address is at most 320 characters); refused before any work. */
const MAX_TOKEN_LENGTH = 1024;

const Payload = z
  .object({
    c: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
    r: z.string().min(1).max(320),
    ch: z.enum(OUTBOX_CHANNELS),
  })
  .strict();

export interface UnsubscribeTokens {
  issue(subject: UnsubscribeSubject): string;
  /** The subject of a genuine token; null for anything forged, tampered, truncated or sealed under another key. */
  verify(token: string): UnsubscribeSubject | null;
}

/**
 * Unsubscribe tokens are AES-256-GCM sealed (not merely signed) so that a link seen by a scanner, a proxy
 * log or a forwarded mail reveals neither the company nor the address. The key is derived from the secrets
 * master key with HKDF (info `unsubscribe`): one key to keep, and a token key that opens no secret. The
 * tokens do not expire (RFC 8058 links must keep working); rotating the master key voids them.
 */
export function unsubscribeTokens(master: MasterKey): UnsubscribeTokens {
  const key = Buffer.from(hkdfSync('sha256', master.key, Buffer.alloc(0), 'unsubscribe', 32));
  return {
    issue(subject) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(AAD);
      const plaintext = JSON.stringify({ c: subject.companyId, r: subject.recipient, ch: subject.channel });
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), data]).toString('base64url');
    },
    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
      const raw = Buffer.from(token, 'base64url');
      // One spelling per token: the decoder would otherwise accept stray trailing bits.
      if (raw.toString('base64url') !== token || raw.length <= 1 + IV_BYTES + TAG_BYTES || raw[0] !== VERSION) return null;
      let plaintext: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(1, 1 + IV_BYTES));
        decipher.setAAD(AAD);
        decipher.setAuthTag(raw.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
        plaintext = Buffer.concat([decipher.update(raw.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        return null;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(plaintext);
      } catch {
        return null;
      }
      const p = Payload.safeParse(parsed);
      return p.success ? { companyId: p.data.c, recipient: p.data.r, channel: p.data.ch } : null;
    },
  };
}
