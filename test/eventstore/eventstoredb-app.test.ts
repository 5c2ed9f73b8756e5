import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';
import { type EsdbStandin, startEsdbStandin } from './standin/esdb-standin.js';

// The whole app (PGlite read models) with its event log on the EventStoreDB adapter: the real client over
// gRPC against the stand-in (test/eventstore/standin; not EventStoreDB). TEST_EVENTSTORE_URL is not used here:
// a real node cannot be made unreachable on cue.
describe('the app on the EventStoreDB adapter (real client against the stand-in)', () => {
  let standin: EsdbStandin;
  let t: TestApp;
  beforeAll(async () => {
    standin = await startEsdbStandin();
    t = await startTestApp('pglite', { config: { eventStoreUrl: standin.url } });
  });
  afterAll(async () => {
    await t?.close();
    await standin?.stop();
  });

  const guide = (companyId: string) => `/api/companies/${companyId}/crm/brand-voice/guide`;

  it('GET /readyz answers 200 with the event store reachable', async () => {
    const res = await request(t.app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.checks).toEqual({ database: 'ok', eventStore: 'ok' });
  });

  // Issue 15 finding 1: the client's errors have no `name`, so the HTTP edge answered an outage with a 500.
  it('finding 1: a request while EventStoreDB is unreachable is a JSON 503 without a stack, and the app serves again after', async () => {
    const url = guide(randomUUID());
    expect(
      (
        await request(t.app)
          .put(url)
          .send({ bannedPhrases: ['act now'] })
      ).status,
    ).toBe(200);
    await standin.goUnavailable();
    try {
      const res = await request(t.app)
        .put(url)
        .send({ bannedPhrases: ['buy now'] });
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual({ error: 'Service unavailable: a backend is unreachable' });
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+|UNAVAILABLE|ECONNREFUSED/);
      const ready = await request(t.app).get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.eventStore).toBe('unreachable');
    } finally {
      await standin.comeBack();
    }
    // The client reconnects on its own: the same process answers again.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      if (i > 0) await new Promise((done) => setTimeout(done, 100));
      status = (
        await request(t.app)
          .put(url)
          .send({ bannedPhrases: ['buy now'] })
      ).status;
    }
    expect(status).toBe(200);
    expect((await request(t.app).get('/readyz')).status).toBe(200);
  });
});
