import { fileURLToPath } from 'node:url';
import type { Db } from '../sql/db.js';
import { loadMigrations, migrate } from '../sql/migrate.js';

const READ_MODEL_MIGRATIONS = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Applies the read models' migrations not yet recorded (the event store's are its own: createSqlEventStore). */
export async function migrateReadModels(db: Db): Promise<number[]> {
  return migrate(db, 'read_models', await loadMigrations(READ_MODEL_MIGRATIONS));
}
