import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config.js';
import { type MasterKey, masterKeyFrom } from './crypto.js';

export const KEY_FILE = 'secrets.key';

function decode(text: string, where: string): MasterKey {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+=*$/.test(trimmed) || key.length !== 32) {
    throw new ConfigError(`${where} must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
  }
  return masterKeyFrom(key);
}

/**
 * The master key from `CRM_SECRETS_MASTER_KEY`, else from `<data dir>/secrets.key`, created (mode 0600) with
 * a random key the first time.
 */
export function loadMasterKey(envValue: string | undefined, dataDir: string): MasterKey {
  if (envValue) return decode(envValue, 'CRM_SECRETS_MASTER_KEY');
  const file = join(dataDir, KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // A key file readable by others is tightened rather than trusted as it is.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return decode(readFileSync(file, 'utf8'), file);
}
