import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { AggregateCache } from '../../src/commands/aggregate-cache.js';
import { addAllowlistEntry, removeAllowlistEntry } from '../../src/commands/allowlist.js';
import { addApprovalRule, loadApprovalRules, updateApprovalRule } from '../../src/commands/approval-rules.js';
import { DomainError } from '../../src/domain/decider.js';
import { allowlistDecider, allowlistStream } from '../../src/domain/allowlist.js';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestBackend, sqlBackend } from '../support/stores.js';

/** The store, counting the reads of streams and the events they returned. */
function counting(store: EventStore) {
  const seen = { reads: 0, events: 0 };
  const count = (events: RecordedEvent[]) => {
    seen.reads++;
    seen.events += events.length;
    return events;
  };
  const wrapped: EventStore = Object.create(store, {
    readStream: { value: async (...a: Parameters<EventStore['readStream']>) => count(await store.readStream(...a)) },
    readStreamsForward: {
      value: store.readStreamsForward
        ? async (requests: { streamName: string; fromRevision: number }[]) => {
            const out = await store.readStreamsForward!(requests);
            for (const events of out.values()) count(events);
            return out;
          }
        : undefined,
    },
  });
  return { store: wrapped, seen, reset: () => Object.assign(seen, { reads: 0, events: 0 }) };
}

const now = () => new Date();

function suite(label: 'pglite' | 'postgres') {
  describe(`commands on growing aggregates, through the aggregate cache, on ${label}`, () => {
    let b: TestBackend;
    beforeAll(async () => {
      b = await sqlBackend(label);
    });
    afterAll(async () => {
      await b?.drop();
    });

    it('an addition to a 2,000-entry allowlist reads and folds what an addition to a 20-entry one does: only what others appended since', async () => {
      const c = counting(b.store);
      const cache = new AggregateCache(c.store);
      const companyId = randomUUID();
      const add = (pattern: string) => addAllowlistEntry(cache, { companyId, pattern, channel: null, note: null }, LOCAL_OPERATOR, now());
      for (let i = 1; i < 20; i++) await add(`r${i}@client.example`);
      c.reset();
      await add('r20@client.example');
      const twentieth = { ...c.seen };

      // Another process adds 1,979 more (in a few appends): this process has never seen them.
      const others = Array.from({ length: 1_979 }, (_, i) => ({
        type: 'AllowlistEntryAdded',
        data: {
          companyId,
          entry: {
            entryId: randomUUID(),
            pattern: `o${i}@client.example`,
            channel: null,
            note: null,
            createdAt: now().toISOString(),
            createdBy: 'board:other',
          },
        },
      }));
      for (let i = 0; i < others.length; i += 500)
        await b.store.append(allowlistStream(companyId), others.slice(i, i + 500), 'stream_exists');
      c.reset();
      await add('r2000@client.example');
      // The 2,000th catches up the others' events once (its append proves the state current)...
      expect(c.seen.events).toBe(1_979);
      c.reset();
      await add('r2001@client.example');
      // ...and the next one reads no more than the 20th did.
      expect(c.seen).toEqual(twentieth);
      expect(twentieth.events).toBe(0);
      expect(twentieth.reads).toBeLessThanOrEqual(1);

      const [state] = await new AggregateCache(b.store).load([
        { streamName: allowlistStream(companyId), decider: allowlistDecider },
      ] as const);
      expect(state.entries.size).toBe(2_001);
      const [cached] = await cache.load([{ streamName: allowlistStream(companyId), decider: allowlistDecider }] as const);
      expect([...cached.entries.keys()]).toEqual([...state.entries.keys()]);
    }, 60_000);

    it('two processes, each with its cache, add and remove concurrently: nothing lost, a pattern allowed once', async () => {
      const one = new AggregateCache(b.store);
      const two = new AggregateCache(b.store);
      const companyId = randomUUID();
      const add = (cache: AggregateCache, pattern: string) =>
        addAllowlistEntry(cache, { companyId, pattern, channel: null, note: null }, LOCAL_OPERATOR, now());
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => add(i % 2 ? one : two, `p${i}@client.example`)));
      const same = await Promise.allSettled([add(one, 'same@client.example'), add(two, 'same@client.example')]);
      expect(same.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = same.find((s) => s.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toBeInstanceOf(DomainError);
      expect((refused.reason as DomainError).kind).toBe('conflict');
      await removeAllowlistEntry(two, { companyId, entryId: ids[1]!.id }, LOCAL_OPERATOR, now());
      const load = (cache: AggregateCache) => cache.load([{ streamName: allowlistStream(companyId), decider: allowlistDecider }] as const);
      const [a] = await load(one);
      const [c] = await load(two);
      expect(a.entries.size).toBe(20);
      expect([...a.entries.keys()].sort()).toEqual([...c.entries.keys()].sort());
      expect(a.entries.has(ids[1]!.id)).toBe(false);
    });

    it('approval rules go through the cache too: updates fold onto the cached rule set', async () => {
      const c = counting(b.store);
      const cache = new AggregateCache(c.store);
      const companyId = randomUUID();
      const { id } = await addApprovalRule(
        cache,
        { companyId, predicate: { any: true }, action: 'queue_for_manual', priority: 1 },
        LOCAL_OPERATOR,
        now(),
      );
      for (let p = 2; p <= 30; p++)
        await updateApprovalRule(cache, { companyId, ruleId: id, changes: { priority: p } }, LOCAL_OPERATOR, now());
      c.reset();
      await updateApprovalRule(cache, { companyId, ruleId: id, changes: { priority: 31 } }, LOCAL_OPERATOR, now());
      expect(c.seen.events).toBe(0);
      expect((await loadApprovalRules(new AggregateCache(b.store), companyId)).rules.get(id)?.priority).toBe(31);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
