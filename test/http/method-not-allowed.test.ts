import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';
import { listRoutes } from '../support/routes.js';

describe('a wrong method on a known path is a 405 with Allow; an unknown path stays a 404', () => {
  let t: TestApp;
  const company = `/api/companies/${randomUUID()}/crm`;
  beforeAll(async () => {
    t = await startTestApp('pglite');
  });
  afterAll(() => t?.close());

  it('PUT on the outboxes list: 405, Allow naming the methods the path has, the JSON error shape', async () => {
    const res = await request(t.app).put(`${company}/outboxes`).send({});
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.body).toEqual({
      error: 'Method PUT is not allowed here',
      details: { code: 'method_not_allowed', allow: ['GET', 'HEAD', 'POST'] },
    });
  });

  it('takes the methods from the registered routes, whatever the path’s parameters', async () => {
    const res = await request(t.app).post(`${company}/content-pieces/${randomUUID()}`).send({ title: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('DELETE, GET, HEAD, PATCH');
    // Every method the app lists for that path is in Allow; none that it does not.
    const listed = listRoutes(t.app)
      .filter((r) => r.path === '/api/companies/:companyId/crm/content-pieces/:pieceId')
      .map((r) => r.method);
    expect(res.body.details.allow.filter((m: string) => m !== 'HEAD').sort()).toEqual([...new Set(listed)].sort());
    const bulk = await request(t.app).get(`${company}/approvals/bulk-approve`);
    expect(bulk.status).toBe(405);
    expect(bulk.headers.allow).toBe('POST');
  });

  it('an unknown path is a 404 Unknown route, with no Allow', async () => {
    for (const method of ['get', 'put'] as const) {
      const res = await request(t.app)[method](`${company}/no-such-thing`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: 'Unknown route' });
      expect(res.headers.allow).toBeUndefined();
    }
  });
});
