import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import { migrateReadModels } from '../../src/projections/read-model-migrations.js';
import { writePgliteTemplate } from '../../src/sql/make-pglite-template.js';
import { createPgliteDb } from '../../src/sql/pglite-db.js';

// A first start unpacks the build's migrated template instead of running initdb (issue 16, start fast).
describe('the PGlite template for first starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crm-template-'));
  const template = join(dir, 'template.tar.gz');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an empty folder starts from the template, with every migration already applied', async () => {
    await writePgliteTemplate(template);
    expect(existsSync(template)).toBe(true);
    const folder = join(dir, 'first');
    const db = await createPgliteDb(folder, { template });
    try {
      expect(existsSync(join(folder, 'PG_VERSION'))).toBe(true);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM crm_schema_migrations`);
      expect(rows[0]!.n).toBeGreaterThan(0);
      // Nothing is left for a start to apply, and no event is in it (an instance's events are its own).
      expect(await migrateReadModels(db)).toEqual([]);
      const store = await createSqlEventStore(db);
      expect(await store.readAll({ maxCount: 10 })).toEqual([]);
      await store.close();
    } finally {
      await db.close();
    }
  });

  it('a folder that holds a database is opened as it is, not replaced by the template', async () => {
    const folder = join(dir, 'kept');
    const first = await createPgliteDb(folder, { template });
    await first.exec(`CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`);
    await first.close();
    const again = await createPgliteDb(folder, { template });
    try {
      expect((await again.query<{ v: number }>(`SELECT v FROM kept`)).rows).toEqual([{ v: 42 }]);
    } finally {
      await again.close();
    }
  });

  it('without a template an empty folder still starts (initdb), with nothing applied yet', async () => {
    const folder = join(dir, 'plain');
    const db = await createPgliteDb(folder, { template: join(dir, 'missing.tar.gz') });
    try {
      const { rows } = await db.query<{ t: string | null }>(`SELECT to_regclass('crm_schema_migrations')::text AS t`);
      expect(rows[0]!.t).toBeNull();
    } finally {
      await db.close();
    }
  });
});
