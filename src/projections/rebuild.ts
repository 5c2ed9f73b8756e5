import { type EventStore, type Position, START, comparePositions, formatPosition } from '../eventstore/port.js';
import type { Db } from '../sql/db.js';
import { lockCheckpoint, writeCheckpoint } from './checkpoints.js';
import { type Projection, eventsFor } from './projection.js';

export interface RebuildProgress {
  phase: 'building' | 'swapping' | 'done';
  eventsApplied: number;
  /** Events of the log read so far, the projection's or not (what a progress bar counts). */
  eventsRead: number;
  position: string;
}

const ASIDE = '__rebuild';
const ident = (name: string) => {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(name)) throw new Error(`bad table name ${name}`);
  return name;
};

/**
 * Rebuilds a projection from the start of the log into copies of its tables, while the live projection goes
 * on serving and updating the real ones; then, in one transaction holding the live checkpoint's row lock,
 * catches the copies up to the live checkpoint and swaps them in. Readers never see a half-built table.
 * Only one rebuild of a projection runs at a time (an advisory lock across instances).
 */
export async function rebuildProjection(opts: {
  db: Db;
  store: EventStore;
  projection: Projection;
  batchSize: number;
  onProgress?: (p: RebuildProgress) => void;
}): Promise<void> {
  const { db, store, projection: p } = opts;
  const aside = (t: string) => `${ident(t)}${ASIDE}`;
  await db.session(async (s) => {
    const { rows } = await s.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext('crm_rebuild'), hashtext($1)) AS ok`, [p.name]);
    if (!rows[0]?.ok) throw new Error(`projection ${p.name} is being rebuilt by another instance`);
    try {
      for (const t of p.tables) {
        await s.exec(`DROP TABLE IF EXISTS ${aside(t)}; CREATE TABLE ${aside(t)} (LIKE ${ident(t)} INCLUDING ALL)`);
      }
      let position: Position = START;
      let applied = 0;
      let read = 0;
      const report = (phase: RebuildProgress['phase']) =>
        opts.onProgress?.({ phase, eventsApplied: applied, eventsRead: read, position: formatPosition(position) });

      // Events are read outside transactions (PGlite has one connection: a read inside would wait on itself).
      const catchUp = async (limit: Position | null) => {
        for (;;) {
          const batch = await store.readAll({ after: position, maxCount: opts.batchSize });
          const inRange = limit ? batch.filter((e) => comparePositions(e.position, limit) <= 0) : batch;
          if (inRange.length === 0) return;
          const relevant = eventsFor(p, inRange);
          if (relevant.length > 0) await db.transaction((tx) => p.apply(relevant, { tx, table: aside }));
          applied += relevant.length;
          read += inRange.length;
          position = inRange[inRange.length - 1]!.position;
          report('building');
          if (inRange.length < batch.length) return;
        }
      };

      await catchUp(null);
      report('swapping');
      // Swap when the copies stand exactly at the live checkpoint (or beyond it), checked under its row lock;
      // if the live projection moved on meanwhile, catch up to it and try again.
      for (;;) {
        const swapped = await db.transaction(async (tx) => {
          const live = await lockCheckpoint(tx, p.name);
          if (comparePositions(position, live.position) < 0) return live.position;
          for (const t of p.tables) {
            await tx.exec(`DROP TABLE ${ident(t)}; ALTER TABLE ${aside(t)} RENAME TO ${ident(t)}`);
          }
          await writeCheckpoint(tx, p.name, position, applied, true);
          return null;
        });
        if (swapped === null) break;
        await catchUp(swapped);
      }
      report('done');
    } finally {
      await s.query(`SELECT pg_advisory_unlock(hashtext('crm_rebuild'), hashtext($1))`, [p.name]).catch(() => {});
    }
  });
}
