import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { addSecretVersion, createSecret } from '../../src/commands/secrets.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { type Runtime, createRuntime } from '../../src/runtime.js';
import { masterKeyFrom } from '../../src/secrets/crypto.js';
import { MasterKeyMismatchError, keyCheckValue } from '../../src/secrets/key-check.js';
import type { Db } from '../../src/sql/db.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL, type TestDatabase, pgliteDatabase, postgresDatabase } from '../support/databases.js';
import { testConfig } from '../support/app.js';

const KEY_A = Buffer.alloc(32, 11).toString('base64');
const KEY_B = Buffer.alloc(32, 12).toString('base64');

const open = (db: Db, key: string, lines?: string[]) =>
  createRuntime(testConfig({ secretsMasterKey: key }), lines ? createLogger('info', (l) => lines.push(l)) : silentLogger, { db });

const storedChecks = async (db: Db) => (await db.query(`SELECT value FROM crm_instance_settings`)).rows as { value: string }[];

/** A secret sealed by `rt`, in the read model when this returns. */
async function secretOf(rt: Runtime, companyId = randomUUID()) {
  const s = await createSecret(rt.store, rt.masterKey, { companyId, name: 'smtp', value: 'smtp://u:p@h:25' }, LOCAL_OPERATOR, rt.now());
  await rt.engine.start();
  await rt.engine.waitFor(s.position!);
  return { ...s, companyId };
}

describe('the key check value', () => {
  it('is the same for one key, differs between keys, and shows neither the key nor its key id', () => {
    const a = masterKeyFrom(Buffer.from(KEY_A, 'base64'));
    const b = masterKeyFrom(Buffer.from(KEY_B, 'base64'));
    expect(keyCheckValue(a)).toBe(keyCheckValue(masterKeyFrom(Buffer.from(KEY_A, 'base64'))));
    expect(keyCheckValue(a)).not.toBe(keyCheckValue(b));
    expect(keyCheckValue(a)).toMatch(/^[0-9a-f]{64}$/);
    for (const shown of [a.key.toString('hex'), KEY_A, a.id]) expect(keyCheckValue(a)).not.toContain(shown);
  });
});

function suite(backend: 'pglite' | 'postgres', fresh: () => Promise<TestDatabase>) {
  describe(`the master key check on ${backend}`, () => {
    it('the first start seals the database; another key is refused, naming CRM_SECRETS_MASTER_KEY; the same key starts', async () => {
      const t = await fresh();
      try {
        await (await open(t.db, KEY_A)).close();
        expect(await storedChecks(t.db)).toEqual([{ value: keyCheckValue(masterKeyFrom(Buffer.from(KEY_A, 'base64'))) }]);
        const refused = open(t.db, KEY_B);
        await expect(refused).rejects.toBeInstanceOf(MasterKeyMismatchError);
        await expect(refused).rejects.toThrow(
          /^the secrets master key \(CRM_SECRETS_MASTER_KEY\) does not match .*: set CRM_SECRETS_MASTER_KEY /,
        );
        await (await open(t.db, KEY_A)).close();
        expect(await storedChecks(t.db)).toHaveLength(1);
      } finally {
        await t.drop();
      }
    });

    it('an upgraded database (secrets, no check value) is sealed only by the key that sealed them; until then each start warns', async () => {
      const t = await fresh();
      try {
        const a = await open(t.db, KEY_A);
        await secretOf(a);
        await a.close();
        await t.db.query(`DELETE FROM crm_instance_settings`);

        // The wrong instance upgraded first: it must not lock the right one out.
        const lines: string[] = [];
        const b = await open(t.db, KEY_B, lines);
        expect(await storedChecks(t.db)).toEqual([]);
        expect(lines.map((l) => JSON.parse(l))).toContainEqual(
          expect.objectContaining({ level: 'warn', secrets: 1, sealedUnderAnotherKey: 1 }),
        );
        // It also sealed a secret of its own meanwhile: now neither key opens everything.
        const second = await secretOf(b);
        await b.close();
        const linesA: string[] = [];
        const a2 = await open(t.db, KEY_A, linesA);
        expect(await storedChecks(t.db)).toEqual([]);
        expect(linesA.map((l) => JSON.parse(l))).toContainEqual(
          expect.objectContaining({ level: 'warn', secrets: 2, sealedUnderAnotherKey: 1 }),
        );
        // Storing that secret again under the one key settles it.
        await addSecretVersion(
          a2.store,
          a2.masterKey,
          { companyId: second.companyId, secretId: second.id, value: 'smtp://u:again@h:25' },
          LOCAL_OPERATOR,
          a2.now(),
        );
        await a2.close();
        await (await open(t.db, KEY_A)).close();
        expect(await storedChecks(t.db)).toEqual([{ value: keyCheckValue(masterKeyFrom(Buffer.from(KEY_A, 'base64'))) }]);
        await expect(open(t.db, KEY_B)).rejects.toBeInstanceOf(MasterKeyMismatchError);
      } finally {
        await t.drop();
      }
    });
  });
}

suite('pglite', pgliteDatabase);
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => {
  suite('postgres', () => postgresDatabase());

  it('two instances starting at once on a fresh database with different keys: exactly one starts', async () => {
    const t = await postgresDatabase();
    const other = t.connect();
    try {
      const results = await Promise.allSettled([open(t.db, KEY_A), open(other, KEY_B)]);
      const started = results.filter((r): r is PromiseFulfilledResult<Runtime> => r.status === 'fulfilled');
      expect(started).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(MasterKeyMismatchError) });
      await started[0]!.value.close();
      expect(await storedChecks(t.db)).toEqual([{ value: keyCheckValue(started[0]!.value.masterKey) }]);
    } finally {
      await t.drop();
    }
  }, 60_000);
});
