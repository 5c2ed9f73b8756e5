import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EventStore, type Position, type RecordedEvent, START, comparePositions } from '../../src/eventstore/port.js';
import { createSqlEventStore } from '../../src/eventstore/sql-event-store.js';
import { ProjectionEngine } from '../../src/projections/engine.js';
import type { Projection } from '../../src/projections/projection.js';
import type { RebuildProgress } from '../../src/projections/rebuild.js';
import type { Db } from '../../src/sql/db.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestBackend, sqlBackend } from '../support/stores.js';

/** A read model of "Noted" events: one row per event, the text transformed by `shape`. */
function notesProjection(opts: { failOn?: () => string | null; shape?: (s: string) => string; appliedBy?: string } = {}): Projection {
  return {
    name: 'notes',
    tables: ['test_notes'],
    eventTypes: ['Noted'],
    async apply(events: RecordedEvent[], { tx, table }) {
      for (const e of events) {
        const text = (e.data as { text: string }).text;
        await tx.query(
          `INSERT INTO ${table('test_notes')} (event_id, text) VALUES ($1, $2) ON CONFLICT (event_id) DO UPDATE SET text = excluded.text`,
          [e.id, (opts.shape ?? ((s) => s))(text)],
        );
        if (opts.appliedBy) await tx.query(`INSERT INTO test_applies (event_id, engine) VALUES ($1, $2)`, [e.id, opts.appliedBy]);
        if (opts.failOn?.() === text.slice(text.indexOf(':') + 1)) throw new Error(`refusing ${text}`);
      }
    },
  };
}

/** A second read model of the same events, recording the transaction each batch was written in. */
function lengthsProjection(opts: { failOn?: () => string | null } = {}): Projection {
  return {
    name: 'lengths',
    tables: ['test_lengths'],
    eventTypes: ['Noted'],
    async apply(events: RecordedEvent[], { tx, table }) {
      for (const e of events) {
        const text = (e.data as { text: string }).text;
        await tx.query(
          `INSERT INTO ${table('test_lengths')} (event_id, text, txid) VALUES ($1, $2, txid_current()) ON CONFLICT (event_id) DO NOTHING`,
          [e.id, text],
        );
        if (opts.failOn?.() === text.slice(text.indexOf(':') + 1)) throw new Error(`refusing ${text}`);
      }
    },
  };
}

async function createTables(db: Db) {
  await db.exec(`CREATE TABLE IF NOT EXISTS test_notes (event_id uuid PRIMARY KEY, text text NOT NULL, txid bigint NOT NULL DEFAULT txid_current());
                 CREATE TABLE IF NOT EXISTS test_lengths (event_id uuid PRIMARY KEY, text text NOT NULL, txid bigint NOT NULL);
                 CREATE TABLE IF NOT EXISTS test_applies (event_id uuid NOT NULL, engine text NOT NULL)`);
  await db.exec(`TRUNCATE test_notes, test_lengths, test_applies; DELETE FROM crm_projection_checkpoints`);
}

// The log outlives each test: every test tags its notes and counts only its own.
let tag = '';
const newTag = () => {
  tag = `t${randomUUID().replace(/[^a-f]/g, '')}:`;
};

async function note(store: EventStore, text: string): Promise<Position> {
  return (await store.append(`note-${randomUUID()}`, [{ type: 'Noted', data: { text: tag + text } }], 'no_stream')).position;
}

const count = async (db: Db, where = 'true') =>
  Number(
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM test_notes WHERE text ILIKE $1 AND ${where}`, [`${tag}%`])).rows[0]!.n,
  );

/** `db`, counting the transactions begun through it. */
function countingTransactions(db: Db): { db: Db; count: () => number } {
  let n = 0;
  const counted = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'transaction')
        return (fn: Parameters<Db['transaction']>[0], o: Parameters<Db['transaction']>[1]) => (n++, target.transaction(fn, o));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db: counted, count: () => n };
}

/** `db` whose sessions (the leadership's) answer each query `ms` late, as a loaded machine's may. */
function slowSessions(db: Db, ms: number): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'session')
        return (fn: Parameters<Db['session']>[0]) =>
          target.session((s) =>
            fn({
              ...s,
              query: async (...args: Parameters<typeof s.query>) => {
                await new Promise((r) => setTimeout(r, ms));
                return s.query(...args);
              },
            } as typeof s),
          );
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function engineSuite(label: 'pglite' | 'postgres') {
  describe(`projection engine on ${label}`, () => {
    let b: TestBackend;
    const engines: ProjectionEngine[] = [];
    const engine = (projection: Projection, extra: Partial<ConstructorParameters<typeof ProjectionEngine>[0]> = {}) => {
      const e = new ProjectionEngine({ store: b.store, db: b.db, projections: [projection], pollMs: 100, standbyRetryMs: 100, ...extra });
      engines.push(e);
      return e;
    };
    beforeAll(async () => {
      b = await sqlBackend(label);
    });
    afterAll(() => b?.drop());
    beforeEach(newTag);
    afterEach(async () => {
      for (const e of engines.splice(0)) await e.stop();
      await createTables(b.db);
    });

    it('catches up from the log, then follows it live', async () => {
      await createTables(b.db);
      for (let i = 0; i < 30; i++) await note(b.store, `old ${i}`);
      const e = engine(notesProjection());
      await e.start();
      const live = await note(b.store, 'new');
      expect(await e.waitFor(live, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(31);
      const status = await e.status();
      expect(status[0]).toMatchObject({ name: 'notes', caughtUp: true, lagEvents: 0, eventsApplied: 31, leader: true });
    });

    it('writes rows and checkpoint in one transaction: a failing batch leaves neither, and is retried', async () => {
      await createTables(b.db);
      let failing: string | null = 'poison';
      const e = engine(notesProjection({ failOn: () => failing }), { batchSize: 1 });
      await e.start();
      const first = await note(b.store, 'fine');
      expect(await e.waitFor(first, { timeoutMs: 10_000 })).toBe(true);
      const poison = await note(b.store, 'poison');
      expect(await e.waitFor(poison, { timeoutMs: 500 })).toBe(false);
      expect(await count(b.db)).toBe(1); // the poison row was rolled back with its checkpoint
      const [st] = await e.status();
      expect(st!.lastError).toMatch(/refusing .*poison/);
      expect(st!.lagEvents).toBe(1);
      expect(st!.lagMs).toBeGreaterThan(0);
      failing = null;
      expect(await e.waitFor(poison, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(2);
    });

    it("commits without waiting for the disk (its rows are made again from the log), and leaves other transactions' commits alone", async () => {
      await createTables(b.db);
      const seen: string[] = [];
      const e = engine({
        ...notesProjection(),
        async apply(events, ctx) {
          await notesProjection().apply(events, ctx);
          seen.push((await ctx.tx.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`)).rows[0]!.s);
        },
      });
      await e.start();
      expect(await e.waitFor(await note(b.store, 'durable?'), { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(1);
      expect(seen).toContain('off');
      expect(seen.every((s) => s === 'off')).toBe(true);
      const outside = await b.db.transaction((tx) => tx.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`));
      expect(outside.rows[0]!.s).toBe('on');
      expect((await b.db.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`)).rows[0]!.s).toBe('on');
    });

    it('re-delivery is harmless: resetting the checkpoint re-applies to the same rows', async () => {
      await createTables(b.db);
      const e = engine(notesProjection());
      await e.start();
      let last: Position | null = null;
      for (let i = 0; i < 10; i++) last = await note(b.store, `n${i}`);
      expect(await e.waitFor(last!, { timeoutMs: 10_000 })).toBe(true);
      await b.db.query(`UPDATE crm_projection_checkpoints SET commit_pos = 0, prepare_pos = 0 WHERE name = 'notes'`);
      const after = await note(b.store, 'after reset');
      expect(await e.waitFor(after, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(11);
    });

    it('a batch read while another instance took over and moved on is dropped, not applied again', async () => {
      await createTables(b.db);
      let gate: Promise<void> | null = null;
      let reading: (() => void) | null = null;
      const store = new Proxy(b.store, {
        get(target, prop, receiver) {
          if (prop === 'readAll') {
            return async (...args: Parameters<EventStore['readAll']>) => {
              const held = gate;
              if (held) {
                reading?.();
                await held;
              }
              return target.readAll(...args);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const e = engine(notesProjection({ appliedBy: 'A' }), { store, pollMs: 5000 });
      await e.start();
      expect(await e.waitFor(await note(b.store, 'one'), { timeoutMs: 10_000 })).toBe(true);
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      const started = new Promise<void>((r) => (reading = r));
      const second = await note(b.store, 'two');
      await started; // A is reading the batch with "two"
      // Meanwhile another instance applies "two" and moves the checkpoint on; A loses leadership and follows.
      await b.db.query(`UPDATE crm_projection_checkpoints SET commit_pos = $1, prepare_pos = $2 WHERE name = 'notes'`, [
        second.commit.toString(),
        second.prepare.toString(),
      ]);
      const internals = e as unknown as { leadership: { held: Set<string> }; refreshCheckpoints(): Promise<void> };
      internals.leadership.held.clear();
      await internals.refreshCheckpoints();
      gate = null;
      release();
      await new Promise((r) => setTimeout(r, 500));
      const applies = await b.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM test_applies a JOIN test_notes n USING (event_id) WHERE n.text = $1`,
        [`${tag}two`],
      );
      expect(applies.rows[0]!.n).toBe(0); // "two" belongs to the other instance
      const stored = (
        await b.db.query<{ c: string; p: string }>(
          `SELECT commit_pos::text AS c, prepare_pos::text AS p FROM crm_projection_checkpoints WHERE name = 'notes'`,
        )
      ).rows[0]!;
      expect(comparePositions({ commit: BigInt(stored.c), prepare: BigInt(stored.p) }, second)).toBe(0);
    });

    it('over events it ignores, persists its checkpoint soon after, not at every wake-up', async () => {
      await createTables(b.db);
      const counted = countingTransactions(b.db);
      const e = engine(notesProjection(), { pollMs: 5000, db: counted.db });
      await e.start();
      await e.waitFor(await note(b.store, 'first'), { timeoutMs: 10_000 });
      const writes = async () =>
        Number(
          (await b.db.query<{ n: string }>(`SELECT events_applied AS n, updated_at FROM crm_projection_checkpoints WHERE name = 'notes'`))
            .rows[0]!.n,
        );
      const stored = async () =>
        (
          await b.db.query<{ c: string; p: string }>(
            `SELECT commit_pos::text AS c, prepare_pos::text AS p FROM crm_projection_checkpoints WHERE name = 'notes'`,
          )
        ).rows[0]!;
      const before = counted.count();
      const appliedBefore = await writes();
      let last: Position | null = null;
      // 20 wake-ups, each with only events the projection does not read.
      for (let i = 0; i < 20; i++) {
        last = (await b.store.append(`other-${randomUUID()}`, [{ type: 'Other', data: {} }], 'no_stream')).position;
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await e.waitFor(last!, { timeoutMs: 10_000 })).toBe(true); // in memory at once
      await expect
        .poll(
          async () => {
            const s = await stored();
            return comparePositions({ commit: BigInt(s.c), prepare: BigInt(s.p) }, last!) >= 0;
          },
          { timeout: 3000, interval: 50 },
        )
        .toBe(true);
      expect(await writes()).toBe(appliedBefore); // skipped events are not counted as applied
      expect(counted.count() - before).toBeLessThanOrEqual(5); // at most one per IDLE_CHECKPOINT_MS, not 20
    });
    it('events of its types that it writes nothing for (writesFor) are not handed to it and cost no transaction each', async () => {
      await createTables(b.db);
      const counted = countingTransactions(b.db);
      const handed: string[] = [];
      const base = notesProjection();
      const e = engine(
        {
          ...base,
          writesFor: (ev) => !(ev.data as { text: string }).text.endsWith(':skip'),
          async apply(events, ctx) {
            // The log holds earlier tests' notes too: only this test's are counted.
            const texts = events.map((ev) => (ev.data as { text: string }).text).filter((t) => t.startsWith(tag));
            handed.push(...texts.map((t) => t.slice(tag.length)));
            await base.apply(events, ctx);
          },
        },
        { pollMs: 5000, db: counted.db },
      );
      await e.start();
      await e.waitFor(await note(b.store, 'first'), { timeoutMs: 10_000 });
      const before = counted.count();
      let last: Position | null = null;
      // 20 wake-ups, each with one event of its type that it writes nothing for.
      for (let i = 0; i < 20; i++) {
        last = await note(b.store, 'skip');
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await e.waitFor(last!, { timeoutMs: 10_000 })).toBe(true);
      expect(counted.count() - before).toBeLessThanOrEqual(5); // at most one per IDLE_CHECKPOINT_MS, not 20
      expect(await e.waitFor(await note(b.store, 'kept'), { timeoutMs: 10_000 })).toBe(true);
      expect(handed).toEqual(['first', 'kept']);
      expect(await count(b.db)).toBe(2);
    });

    it('projections whose batches are ready together commit in one transaction; a failing one goes alone and the others commit', async () => {
      await createTables(b.db);
      for (let i = 0; i < 10; i++) await note(b.store, `old ${i}`);
      let failing: string | null = null;
      const both = (extra: Partial<ConstructorParameters<typeof ProjectionEngine>[0]> = {}) => {
        const e = new ProjectionEngine({
          store: b.store,
          db: b.db,
          projections: [notesProjection({ failOn: () => failing }), lengthsProjection()],
          pollMs: 100,
          standbyRetryMs: 100,
          ...extra,
        });
        engines.push(e);
        return e;
      };
      // Slow leadership round trips: one lock per round trip once started the two loops a poll apart (seen on CI).
      const counted = countingTransactions(slowSessions(b.db, 150));
      const e = both({ db: counted.db });
      // Both start from the same checkpoint, read the same batch and commit it together.
      await e.start();
      const caughtUp = await note(b.store, 'caught up');
      expect(await e.waitFor(caughtUp, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(11);
      // Each of the old notes was written to both read models by the same transaction.
      const together = await b.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM test_notes n JOIN test_lengths l USING (event_id) WHERE n.txid = l.txid AND n.text LIKE $1`,
        [`${tag}old %`],
      );
      expect(together.rows[0]!.n).toBe(10);
      const batches = await b.db.query<{ n: number }>(`SELECT count(DISTINCT txid)::int AS n FROM test_lengths`);
      expect(counted.count()).toBeLessThanOrEqual(batches.rows[0]!.n + 2); // not one per projection and batch
      const checkpoints = await b.db.query<{ name: string; applied: number }>(
        `SELECT name, events_applied::int AS applied FROM crm_projection_checkpoints WHERE name IN ('notes', 'lengths') ORDER BY name`,
      );
      // Each counts what it applied (the log holds earlier tests' notes too).
      const [lengthsCp, notesCp] = checkpoints.rows;
      expect(lengthsCp!.applied).toBeGreaterThanOrEqual(11);
      expect(notesCp!.applied).toBe(lengthsCp!.applied);

      // A batch one of them refuses: the other's commits, in a transaction of its own.
      failing = 'poison';
      const poison = await note(b.store, 'poison');
      expect(await e.waitFor(poison, { timeoutMs: 10_000, projections: ['lengths'] })).toBe(true);
      expect(await e.waitFor(poison, { timeoutMs: 300, projections: ['notes'] })).toBe(false);
      expect(await count(b.db)).toBe(11);
      const lengths = await b.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM test_lengths WHERE text = $1`, [`${tag}poison`]);
      expect(lengths.rows[0]!.n).toBe(1);
      failing = null;
      expect(await e.waitFor(poison, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(12);
    });

    it('a joint transaction the database ends fails every batch in it at once; another failure retries each alone', async () => {
      let failure: Error = new Error('unused');
      let attempts = 0;
      const failing = new Proxy(b.db, {
        get(target, prop, receiver) {
          if (prop === 'transaction') return () => (attempts++, Promise.reject(failure));
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const e = new ProjectionEngine({ store: b.store, db: failing, projections: [notesProjection(), lengthsProjection()] });
      const internals = e as unknown as {
        runners: Map<string, unknown>;
        commitTogether(items: unknown[]): Promise<void>;
      };
      const commitBoth = async () => {
        const outcomes: string[] = [];
        const item = (name: string) => ({
          r: internals.runners.get(name),
          from: START,
          to: START,
          events: [],
          resolve: () => outcomes.push(`${name} committed`),
          reject: (err: Error) => outcomes.push(`${name} ${err.message}`),
        });
        attempts = 0;
        await internals.commitTogether([item('notes'), item('lengths')]);
        return { attempts, outcomes: outcomes.sort() };
      };
      failure = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      expect(await commitBoth()).toEqual({
        attempts: 1,
        outcomes: [
          'lengths terminating connection due to administrator command',
          'notes terminating connection due to administrator command',
        ],
      });
      failure = new Error('refusing the batch');
      expect(await commitBoth()).toEqual({ attempts: 3, outcomes: ['lengths refusing the batch', 'notes refusing the batch'] });
    });

    it('stops at a checkpoint and resumes from it', async () => {
      await createTables(b.db);
      const e1 = engine(notesProjection());
      await e1.start();
      const p1 = await note(b.store, 'one');
      expect(await e1.waitFor(p1, { timeoutMs: 10_000 })).toBe(true);
      await e1.stop();
      const p2 = await note(b.store, 'two');
      expect(await e1.waitFor(p2, { timeoutMs: 300 })).toBe(false);
      const e2 = engine(notesProjection());
      await e2.start();
      expect(await e2.waitFor(p2, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(2);
    });

    it('rebuilds into tables aside with progress, swapping them in when caught up', async () => {
      await createTables(b.db);
      for (let i = 0; i < 120; i++) await note(b.store, `r${i}`);
      const e = engine(notesProjection(), { batchSize: 25 });
      await e.start();
      expect(await e.waitFor(await note(b.store, 'r-last'), { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db, 'text = upper(text)')).toBe(0);

      // The new code shapes rows differently; the rebuild brings every row to it.
      const v2 = notesProjection({ shape: (s) => s.toUpperCase() });
      const e2 = new ProjectionEngine({ store: b.store, db: b.db, projections: [v2], pollMs: 100, batchSize: 25 });
      const progress: RebuildProgress[] = [];
      const during = note(b.store, 'during');
      await e2.rebuild('notes', (p) => progress.push(p));
      const duringPos = await during;
      expect(progress[0]!.phase).toBe('building');
      expect(progress.some((p) => p.phase === 'swapping')).toBe(true);
      expect(progress.at(-1)).toMatchObject({ phase: 'done' });
      expect(progress.at(-1)!.eventsApplied).toBeGreaterThanOrEqual(121);
      // Every event before the rebuild began is now shaped by the new code (the one appended meanwhile may be
      // applied by either side of the swap).
      expect(await count(b.db, `text = upper(text) AND text NOT ILIKE '%during'`)).toBe(121);
      // The live engine goes on from the swapped checkpoint without losing the event appended meanwhile.
      expect(await e.waitFor(duringPos, { timeoutMs: 10_000 })).toBe(true);
      const tail = await note(b.store, 'tail');
      expect(await e.waitFor(tail, { timeoutMs: 10_000 })).toBe(true);
      expect(await count(b.db)).toBe(123);
      const tables = await b.db.query(`SELECT 1 FROM pg_tables WHERE tablename LIKE 'test_notes%'`);
      expect(tables.rows).toHaveLength(1);
    });
  });
}

engineSuite('pglite');

describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => {
  engineSuite('postgres');

  it('two engines with their own pools: one applies, the other stands by, serves waitFor and takes over', async () => {
    const b = await sqlBackend('postgres');
    try {
      newTag();
      await createTables(b.db);
      const otherDb = b.connect();
      const otherStore = await createSqlEventStore(otherDb);
      const a = new ProjectionEngine({
        store: b.store,
        db: b.db,
        projections: [notesProjection({ appliedBy: 'a' })],
        pollMs: 50,
        standbyRetryMs: 100,
      });
      const c = new ProjectionEngine({
        store: otherStore,
        db: otherDb,
        projections: [notesProjection({ appliedBy: 'c' })],
        pollMs: 50,
        standbyRetryMs: 100,
      });
      await Promise.all([a.start(), c.start()]);
      let last: Position | null = null;
      const writes = Array.from({ length: 200 }, (_, i) => note(i % 2 ? b.store : otherStore, `x${i}`));
      for (const p of await Promise.all(writes)) if (!last || comparePositions(p, last) > 0) last = p;
      // Either engine can answer read-your-writes, whichever leads.
      expect(await a.waitFor(last!, { timeoutMs: 15_000 })).toBe(true);
      expect(await c.waitFor(last!, { timeoutMs: 15_000 })).toBe(true);
      expect([a.isLeader('notes'), c.isLeader('notes')].filter(Boolean)).toHaveLength(1);
      const applies = await b.db.query<{ n: number; d: number; engines: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d, count(DISTINCT engine)::int AS engines FROM test_applies`,
      );
      expect(applies.rows[0]).toEqual({ n: 200, d: 200, engines: 1 });

      const [leader, standby] = a.isLeader('notes') ? [a, c] : [c, a];
      await leader.stop();
      const next = await note(b.store, 'after failover');
      expect(await standby.waitFor(next, { timeoutMs: 15_000 })).toBe(true);
      expect(standby.isLeader('notes')).toBe(true);
      const total = await b.db.query<{ n: number; d: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM test_applies`,
      );
      expect(total.rows[0]).toEqual({ n: 201, d: 201 });
      await standby.stop();
    } finally {
      await b.drop();
    }
  }, 60_000);
});
