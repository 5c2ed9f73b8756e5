import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';

function appSuite(backend: 'pglite' | 'postgres') {
  describe(`app skeleton on ${backend}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(() => t?.close());

    it('GET /healthz answers 200', async () => {
      const res = await request(t.app).get('/healthz');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok' });
    });

    it('GET /readyz answers 200 with backends reachable and projections caught up', async () => {
      const res = await request(t.app).get('/readyz');
      expect(res.status).toBe(200);
      expect(res.body.checks).toEqual({ database: 'ok', eventStore: 'ok' });
    });

    it('an unknown route is a JSON 404', async () => {
      const res = await request(t.app).get('/api/nothing/here');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual({ error: 'Unknown route' });
    });

    it('a malformed JSON body is a JSON 400 without a stack trace', async () => {
      const res = await request(t.app).post('/api/anything').set('content-type', 'application/json').send('{"a": ');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'Malformed JSON body' });
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    });

    it('a body over 1 MB is a JSON 413', async () => {
      const res = await request(t.app)
        .post('/api/anything')
        .set('content-type', 'application/json')
        .send(JSON.stringify({ big: 'x'.repeat(1_100_000) }));
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ error: 'Request body too large' });
    });
  });
}

appSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => appSuite('postgres'));

describe('readiness when a backend is down', () => {
  it('GET /readyz is 503 once the database is gone, and /healthz stays 200', async () => {
    const t = await startTestApp('pglite');
    await t.rt.engine.stop();
    await t.rt.db.close();
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('not_ready');
    expect(res.body.checks.database).toBe('unreachable');
    expect((await request(t.app).get('/healthz')).status).toBe(200);
  });
});
