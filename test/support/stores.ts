import { fileURLToPath } from 'node:url';
import type { EventStore } from '../../src/eventstore/port.js';
import { createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import type { Db } from '../../src/sql/db.js';
import { loadMigrations, migrate } from '../../src/sql/migrate.js';
import { pgliteDatabase, postgresDatabase, type TestDatabase } from './databases.js';

export interface TestBackend extends TestDatabase {
  label: 'pglite' | 'postgres';
  store: EventStore;
}

const READ_MODELS = fileURLToPath(new URL('../../src/projections/migrations/', import.meta.url));

export async function migrateReadModels(db: Db): Promise<void> {
  await migrate(db, 'read_models', await loadMigrations(READ_MODELS));
}

/** A SQL event store and migrated read models on one fresh database of the given kind. */
export async function sqlBackend(label: 'pglite' | 'postgres'): Promise<TestBackend> {
  const t = label === 'pglite' ? await pgliteDatabase() : await postgresDatabase();
  const store = await createSqlEventStore(t.db);
  await migrateReadModels(t.db);
  return { ...t, label, store };
}
