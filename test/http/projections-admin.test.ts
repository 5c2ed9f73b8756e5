import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';

// The operator's view of the projections over HTTP (issue 16 part 4): status, and a rebuild that runs aside
// while the service goes on serving and writing, polled through its status resource.
describe('projections over HTTP, for instance admins', () => {
  let t: TestApp;
  const companyId = randomUUID();
  const base = `/api/companies/${companyId}/crm`;
  const add = async (pattern: string) => expect((await request(t.app).post(`${base}/allowlist`).send({ pattern })).status).toBe(201);
  const patterns = async () =>
    ((await request(t.app).get(`${base}/allowlist`).query({ limit: 500 })).body.items as { pattern: string }[])
      .map((e) => e.pattern)
      .sort();

  beforeAll(async () => {
    t = await startTestApp('pglite');
  }, 60_000);
  afterAll(() => t?.close());

  const poll = async (location: string) => {
    for (let i = 0; i < 200; i++) {
      const r = await request(t.app).get(location);
      expect(r.status).toBe(200);
      if (r.body.status !== 'running') return r.body;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('the rebuild did not finish');
  };

  it('lists every projection with its checkpoint, lag and leader', async () => {
    await add('a@example.org');
    const r = await request(t.app).get('/api/admin/projections');
    expect(r.status).toBe(200);
    const allowlist = r.body.items.find((p: { name: string }) => p.name === 'allowlist');
    expect(allowlist).toMatchObject({ leader: true, caughtUp: true, lagEvents: 0, rebuilding: null });
    expect(Number(allowlist.eventsApplied)).toBeGreaterThan(0);
    expect(r.body.items.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['activities', 'suppressions', 'sequences']));
  });

  it('rebuilds a damaged read model from the log, while writes go on, and swaps it in', async () => {
    for (let i = 0; i < 30; i++) await add(`before-${i}@example.org`);
    const expected = await patterns();
    // Damage the read model behind the projection's back: only a rebuild from the log brings the rows back.
    await t.rt.db.query(`DELETE FROM crm_allowlist_entries WHERE company_id = $1 AND pattern LIKE 'before-1%'`, [companyId]);
    expect((await patterns()).length).toBeLessThan(expected.length);

    const started = await request(t.app).post('/api/admin/projections/allowlist/rebuild');
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ projection: 'allowlist', status: 'running', finishedAt: null, error: null });
    expect(started.headers.location).toBe(`/api/admin/projections/rebuilds/${started.body.id}`);
    // Writes while it runs land in the live table and are caught up into the copy before the swap.
    const during = ['during-1@example.org', 'during-2@example.org'];
    for (const p of during) await add(p);

    const done = await poll(started.headers.location as string);
    expect(done).toMatchObject({ status: 'done', phase: 'done', error: null });
    expect(done.eventsApplied).toBeGreaterThanOrEqual(31);
    expect(Date.parse(done.finishedAt)).toBeGreaterThanOrEqual(Date.parse(done.startedAt));
    await add('after@example.org');
    expect(await patterns()).toEqual([...expected, ...during, 'after@example.org'].sort());
    const status = (await request(t.app).get('/api/admin/projections')).body.items.find((p: { name: string }) => p.name === 'allowlist');
    expect(status).toMatchObject({ caughtUp: true, rebuilding: null });
  });

  it('a second rebuild of a projection while one runs is 409, and starts nothing', async () => {
    // Hold PGlite's one connection so the first rebuild cannot finish before the second is asked for.
    let release!: () => void;
    const held = t.rt.db.transaction(() => new Promise<void>((r) => (release = r)));
    try {
      const first = await request(t.app).post('/api/admin/projections/allowlist/rebuild');
      expect(first.status).toBe(202);
      const second = await request(t.app).post('/api/admin/projections/allowlist/rebuild');
      expect(second.status).toBe(409);
      expect(second.body.error).toMatch(/already being rebuilt/);
      release();
      await held;
      expect((await poll(first.headers.location as string)).status).toBe('done');
    } finally {
      release?.();
    }
  });

  it('a projection that does not exist is 404, a rebuild id that is not a UUID 400, an unknown one 404', async () => {
    const unknown = await request(t.app).post('/api/admin/projections/no_such_thing/rebuild');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/no_such_thing/);
    expect((await request(t.app).get('/api/admin/projections/rebuilds/not-a-uuid')).status).toBe(400);
    const missing = await request(t.app).get(`/api/admin/projections/rebuilds/${randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: expect.any(String) });
  });
});
