import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SealedValue } from '../domain/secret.js';

/** A 32-byte AES key and its short id (so that a value sealed under another key is recognised as such). */
export interface MasterKey {
  id: string;
  key: Buffer;
}

export function masterKeyFrom(key: Buffer): MasterKey {
  if (key.length !== 32) throw new Error('the secrets master key must be 32 bytes');
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 12), key };
}

/** AES-256-GCM with a fresh 96-bit IV; the secret's id is bound in as associated data. */
export function seal(master: MasterKey, plaintext: string, aad: string): SealedValue {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master.key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    alg: 'aes-256-gcm',
    keyId: master.id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

export class SecretDecryptionError extends Error {
  override readonly name = 'SecretDecryptionError';
}

export function open(master: MasterKey, sealed: SealedValue, aad: string): string {
  if (sealed.keyId !== master.id) throw new SecretDecryptionError('secret was sealed under another master key');
  try {
    const decipher = createDecipheriv('aes-256-gcm', master.key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptionError('secret could not be decrypted (tampered or wrong key)');
  }
}
