import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { type TestBackend, sqlBackend } from '../support/stores.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';

/** Catch-up reads of concurrent callers share one query: each must still get exactly its own slice. */
function forwardReadSuite(label: 'pglite' | 'postgres') {
  describe(`batched catch-up reads on ${label}`, () => {
    let b: TestBackend;
    beforeAll(async () => {
      b = await sqlBackend(label);
    });
    afterAll(() => b?.drop());

    it('concurrent callers asking for the same streams from different revisions each get their own slice', async () => {
      const a = `fwd-${randomUUID()}`;
      const c = `fwd-${randomUUID()}`;
      await b.store.append(
        a,
        [0, 1, 2, 3, 4].map((i) => ({ type: 'N', data: { i } })),
        'no_stream',
      );
      await b.store.append(c, [{ type: 'N', data: { i: 0 } }], 'no_stream');
      const read = (requests: { streamName: string; fromRevision: number }[]) => b.store.readStreamsForward!(requests);
      const revisions = (m: Map<string, { revision: number }[]>, s: string) => m.get(s)!.map((e) => e.revision);
      const results = await Promise.all([
        read([{ streamName: a, fromRevision: 0 }]),
        read([
          { streamName: a, fromRevision: 3 },
          { streamName: c, fromRevision: 0 },
        ]),
        read([
          { streamName: a, fromRevision: 5 },
          { streamName: `fwd-missing-${randomUUID()}`, fromRevision: 0 },
        ]),
        read([{ streamName: c, fromRevision: 1 }]),
      ]);
      expect(revisions(results[0]!, a)).toEqual([0, 1, 2, 3, 4]);
      expect(revisions(results[1]!, a)).toEqual([3, 4]);
      expect(revisions(results[1]!, c)).toEqual([0]);
      expect(revisions(results[2]!, a)).toEqual([]);
      expect([...results[2]!.values()].map((v) => v.length)).toEqual([0, 0]);
      expect(revisions(results[3]!, c)).toEqual([]);
      expect([...results[1]!.keys()]).toEqual([a, c]); // only what was asked, never another caller's streams
    });

    it('a read asked after an append returns sees it, however many reads are in flight', async () => {
      const s = `fwd-${randomUUID()}`;
      await b.store.append(s, [{ type: 'N', data: {} }], 'no_stream');
      const seen = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          await b.store.append(s, [{ type: 'N', data: { i } }], 'any');
          // The append has returned: this read must include it.
          const events = (await b.store.readStreamsForward!([{ streamName: s, fromRevision: 0 }])).get(s)!;
          return events.some((e) => (e.data as { i?: number }).i === i);
        }),
      );
      expect(seen.every(Boolean)).toBe(true);
    });
  });
}

forwardReadSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => forwardReadSuite('postgres'));
