import { createHmac, timingSafeEqual } from 'node:crypto';
import { AggregateCache } from '../commands/aggregate-cache.js';
import { type SecretState, secretDecider, secretStream } from '../domain/secret.js';
import type { EventStore } from '../eventstore/port.js';
import type { Logger } from '../logger.js';
import type { Queryable } from '../sql/db.js';
import type { MasterKey } from './crypto.js';

/** This instance's master key is not the one the database was sealed with: it must not start. */
export class MasterKeyMismatchError extends Error {
  override readonly name = 'MasterKeyMismatchError';
}

const SETTING = 'secrets_key_check';
// Versioned so that a future change of the derivation cannot be mistaken for a mismatch.
const LABEL = 'crm-outreach secrets master key check v1';
const BATCH = 200;

/**
 * An HMAC of a fixed label under the key, not the key nor the key id the sealed values carry: it tells two
 * keys apart, and gives whoever reads the database nothing the sealed values next to it do not (a random
 * 256-bit key cannot be guessed against either).
 */
export function keyCheckValue(master: MasterKey): string {
  return createHmac('sha256', master.key).update(LABEL).digest('hex');
}

export type KeyCheckOutcome = 'matched' | 'stored' | 'not_stored';

/**
 * Makes sure that every instance on a database seals and opens secrets with one master key. The first start
 * stores the key's check value; a later start with another key is refused (`MasterKeyMismatchError`) before
 * it can seal a secret no other instance can open, or fail every send it makes.
 *
 * A database that already holds secrets but no check value (sealed before the check existed) is sealed only
 * when this key sealed the latest version of every secret: otherwise the first instance to be upgraded could
 * be the one with the wrong key, and would lock out the right one. Until then each start warns and goes on.
 */
export async function checkMasterKey(
  db: Queryable,
  store: EventStore,
  master: MasterKey,
  opts: { logger: Logger; keySource: string },
): Promise<KeyCheckOutcome> {
  const mine = keyCheckValue(master);
  const stored = await storedCheck(db);
  if (stored !== null) {
    assertSame(stored, mine, opts.keySource);
    return 'matched';
  }
  const foreign = await secretsSealedElsewhere(db, store, master);
  if (foreign.other > 0) {
    opts.logger.warn(
      'some secrets of this database were sealed under another master key: no key check is stored, and sends through them fail with secret_unreadable; set CRM_SECRETS_MASTER_KEY to one key on every instance and store those secrets again as new versions',
      { secrets: foreign.total, sealedUnderAnotherKey: foreign.other },
    );
    return 'not_stored';
  }
  // Two instances starting at once on a fresh database: the first insert wins, the other reads it back.
  await db.query(`INSERT INTO crm_instance_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [SETTING, mine]);
  assertSame((await storedCheck(db))!, mine, opts.keySource);
  return 'stored';
}

async function storedCheck(db: Queryable): Promise<string | null> {
  const { rows } = await db.query<{ value: string }>(`SELECT value FROM crm_instance_settings WHERE name = $1`, [SETTING]);
  return rows[0]?.value ?? null;
}

function assertSame(stored: string, mine: string, keySource: string): void {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(mine, 'utf8');
  if (a.length === b.length && timingSafeEqual(a, b)) return;
  throw new MasterKeyMismatchError(
    `the secrets master key (${keySource}) does not match the one this database was sealed with: set CRM_SECRETS_MASTER_KEY on this instance to the key of the instance that sealed it (the CRM_SECRETS_MASTER_KEY it runs with, or the contents of its CRM_DATA_DIR/secrets.key)`,
  );
}

/**
 * How many secrets have a latest version sealed under another key. The latest version is what `:latest`
 * references open, and storing a secret again fixes it; the key id in each sealed value says which key
 * sealed it, so nothing is decrypted. Secrets are listed from the read model: one not yet projected is
 * missed, which at worst stores the check a start early.
 */
async function secretsSealedElsewhere(db: Queryable, store: EventStore, master: MasterKey): Promise<{ total: number; other: number }> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM crm_secrets ORDER BY id`);
  const cache = new AggregateCache(store);
  let other = 0;
  for (let i = 0; i < rows.length; i += BATCH) {
    const states = (await cache.load(
      rows.slice(i, i + BATCH).map((r) => ({ streamName: secretStream(r.id), decider: secretDecider })),
    )) as SecretState[];
    for (const s of states) if (s.exists && s.versions.get(s.latest)?.keyId !== master.id) other++;
  }
  return { total: rows.length, other };
}
