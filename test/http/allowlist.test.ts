import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOWLIST_LIMITS, allowlistStream } from '../../src/domain/allowlist.js';
import { MAX_APPROVAL_RULES, approvalRulesStream } from '../../src/domain/approval-rules.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';

const entryEvent = (companyId: string, i: number, createdAt: string) => ({
  type: 'AllowlistEntryAdded',
  data: {
    companyId,
    entry: { entryId: randomUUID(), pattern: `r${i}@client.example`, channel: null, note: null, createdAt, createdBy: 'board:seed' },
  },
});

function suite(backend: 'pglite' | 'postgres') {
  describe(`the allowlist over HTTP, at scale, on ${backend}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(async () => {
      await t?.close();
    });

    /** Entries written straight to the log (as many additions would), then projected. */
    async function seed(stream: string, events: { type: string; data: unknown }[]) {
      let position = null;
      for (let i = 0; i < events.length; i += 500) position = (await t.rt.store.append(stream, events.slice(i, i + 500), 'any')).position;
      await t.rt.engine.waitFor(position!, { timeoutMs: 30_000 });
    }

    it('lists a page at a time, oldest first: 100 by default with nextCursor, then the rest; bad paging is a 400', async () => {
      const companyId = randomUUID();
      const base = `/api/companies/${companyId}/crm/allowlist`;
      // Three instants for 250 entries: pages must break ties by id.
      const instants = ['2030-01-01T00:00:00.000Z', '2030-01-02T00:00:00.000Z', '2030-01-03T00:00:00.000Z'];
      await seed(
        allowlistStream(companyId),
        Array.from({ length: 250 }, (_, i) => entryEvent(companyId, i, instants[Math.floor(i / 100)]!)),
      );

      const first = await request(t.app).get(base);
      expect(first.status).toBe(200);
      expect(first.body.items).toHaveLength(100);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      expect(first.body.items[0]).toEqual({
        id: expect.any(String),
        pattern: expect.stringMatching(/@client\.example$/),
        channel: null,
        note: null,
        createdAt: instants[0],
        createdBy: 'board:seed',
      });
      const second = await request(t.app).get(base).query({ cursor: first.body.nextCursor, limit: 120 });
      expect(second.body.items).toHaveLength(120);
      const third = await request(t.app).get(base).query({ cursor: second.body.nextCursor, limit: 120 });
      expect(third.body.items).toHaveLength(30);
      expect(third.body.nextCursor).toBeNull();
      const all = [...first.body.items, ...second.body.items, ...third.body.items];
      expect(new Set(all.map((e: { id: string }) => e.id)).size).toBe(250);
      const whole = await request(t.app).get(base).query({ limit: 500 });
      expect(whole.body.items.map((e: { id: string }) => e.id)).toEqual(all.map((e: { id: string }) => e.id));
      expect(whole.body.nextCursor).toBeNull();

      for (const query of [{ limit: 0 }, { limit: 501 }, { limit: 'ten' }, { cursor: 'not-ours' }, { page: 2 }]) {
        const res = await request(t.app).get(base).query(query);
        expect(res.status, JSON.stringify(query)).toBe(400);
        expect(res.body).toEqual(expect.objectContaining({ error: expect.any(String) }));
      }
      // A small allowlist reads as before: every entry on the first page, no further page.
      const small = await request(t.app).get(`/api/companies/${randomUUID()}/crm/allowlist`);
      expect(small.body).toEqual({ items: [], nextCursor: null });
    });

    it(`refuses entry ${ALLOWLIST_LIMITS.entries + 1} with a 422 that says why, and records nothing`, async () => {
      const companyId = randomUUID();
      const base = `/api/companies/${companyId}/crm/allowlist`;
      await seed(
        allowlistStream(companyId),
        Array.from({ length: ALLOWLIST_LIMITS.entries }, (_, i) => entryEvent(companyId, i, new Date().toISOString())),
      );
      const before = (await t.rt.store.readStream(allowlistStream(companyId))).length;
      const res = await request(t.app).post(base).send({ pattern: 'one-more@client.example' });
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: expect.stringMatching(/allowlist is full.*5000/), details: { limit: ALLOWLIST_LIMITS.entries } });
      expect((await t.rt.store.readStream(allowlistStream(companyId))).length).toBe(before);
      // A removal makes room.
      const some = (await request(t.app).get(base).query({ limit: 1 })).body.items[0];
      expect((await request(t.app).delete(`${base}/${some.id}`)).status).toBe(204);
      expect((await request(t.app).post(base).send({ pattern: 'one-more@client.example' })).status).toBe(201);
    }, 60_000);

    it(`refuses approval rule ${MAX_APPROVAL_RULES + 1} with a 422`, async () => {
      const companyId = randomUUID();
      const rules = Array.from({ length: MAX_APPROVAL_RULES }, (_, i) => ({
        type: 'ApprovalRuleAdded',
        data: {
          companyId,
          rule: {
            ruleId: randomUUID(),
            predicate: {},
            action: 'queue_for_manual',
            priority: i,
            seq: i + 1,
            createdAt: new Date().toISOString(),
          },
          addedBy: 'board:seed',
        },
      }));
      await seed(approvalRulesStream(companyId), rules);
      const res = await request(t.app)
        .post(`/api/companies/${companyId}/crm/approval-rules`)
        .send({ predicate: { any: true }, action: 'auto_approve' });
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: expect.stringMatching(/200 approval rules/), details: { limit: MAX_APPROVAL_RULES } });
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
