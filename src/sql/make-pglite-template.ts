import { writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { createSqlEventStore } from '../eventstore/sql-event-store.js';
import { migrateReadModels } from '../projections/read-model-migrations.js';
import { createPgliteDbOn } from './pglite-db.js';
import { templatePath } from './pglite-template.js';

/**
 * Writes the template a first start unpacks (see pglite-template.ts): a fresh folder with this build's
 * migrations applied, by the same code a start runs, and nothing else (no key check, no event: those belong
 * to an instance). Run by the build; a start still checks each migration against its checksum.
 */
export async function writePgliteTemplate(file = templatePath()): Promise<string> {
  const lite = await PGlite.create();
  const db = createPgliteDbOn(lite);
  try {
    const store = await createSqlEventStore(db);
    await store.close();
    await migrateReadModels(db);
    const tar = await lite.dumpDataDir('gzip');
    writeFileSync(file, Buffer.from(await tar.arrayBuffer()));
    return file;
  } finally {
    await db.close();
  }
}
