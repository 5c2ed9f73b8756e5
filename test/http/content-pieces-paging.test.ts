import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';

describe('content pieces are listed in pages, as activities are (cursor, limit, nextCursor)', () => {
  let t: TestApp;
  const url = (company: string) => `/api/companies/${company}/crm/content-pieces`;
  const piece = (company: string, i: number) =>
    request(t.app)
      .post(url(company))
      .send({ title: `piece ${i}`, sourcePath: `knowledge/${randomUUID()}.md`, sourceSha256: 'cd'.repeat(32), niche: 'solar' });
  beforeAll(async () => {
    t = await startTestApp('pglite');
  });
  afterAll(() => t?.close());

  it('walks every piece once, page by page, keeping the filter', async () => {
    const company = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await piece(company, i)).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await request(t.app)
        .get(url(company))
        .query({ niche: 'solar', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((p: { id: string }) => p.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('gives 50 by default, at most 500, and refuses a cursor it did not give', async () => {
    const company = randomUUID();
    for (let i = 0; i < 51; i++) expect((await piece(company, i)).status).toBe(201);
    const first = await request(t.app).get(url(company));
    expect(first.body.items).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const rest = await request(t.app).get(url(company)).query({ cursor: first.body.nextCursor });
    expect(rest.body).toMatchObject({ items: [expect.any(Object)], nextCursor: null });
    expect((await request(t.app).get(url(company)).query({ limit: 501 })).status).toBe(400);
    expect((await request(t.app).get(url(company)).query({ limit: 0 })).status).toBe(400);
    const bad = await request(t.app).get(url(company)).query({ cursor: 'not-ours' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('cursor is not one this API gave');
  });
});
