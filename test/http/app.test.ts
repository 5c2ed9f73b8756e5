import { randomUUID } from 'node:crypto';
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

    describe('a JSON body that is not an object', () => {
      // Sent as UTF-8: EF BB BF.
      const BOM = '\uFEFF';
      const guideUrl = `/api/companies/${randomUUID()}/crm/brand-voice/guide`;
      // The bytes as they are, with their length: a request without a Content-Length (or chunks) has no body at all.
      const putText = (text: string) =>
        request(t.app)
          .put(guideUrl)
          .set('content-type', 'application/json')
          .set('content-length', String(Buffer.byteLength(text)))
          .send(text);
      let before: unknown;
      beforeAll(async () => {
        const set = await request(t.app)
          .put(guideUrl)
          .send({ bannedPhrases: ['act now'] });
        expect(set.status).toBe(200);
        before = (await request(t.app).get(guideUrl)).body;
        expect(before).toMatchObject({ version: 1, guide: { bannedPhrases: ['act now'] } });
      });

      it('an empty body, or a BOM alone, is a 400 and leaves the guide as it was', async () => {
        for (const [sent, text] of [
          ['nothing', ''],
          ['a BOM alone', BOM],
        ] as const) {
          const res = await putText(text);
          expect({ sent, status: res.status, body: res.body }).toEqual({
            sent,
            status: 400,
            body: { error: 'Expected a JSON object body (Content-Type: application/json)' },
          });
        }
        expect((await request(t.app).get(guideUrl)).body).toEqual(before);
      });

      it.each(['null', '123', '"str"', '[]', 'true'])('%s is "Expected a JSON object body", not malformed', async (text) => {
        const res = await putText(text);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ error: 'Expected a JSON object body' });
        expect((await request(t.app).get(guideUrl)).body).toEqual(before);
      });

      it('a BOM before a JSON body does not change what it means', async () => {
        const other = `/api/companies/${randomUUID()}/crm/brand-voice/guide`;
        const res = await request(t.app)
          .put(other)
          .set('content-type', 'application/json')
          .send(BOM + JSON.stringify({ bannedPhrases: ['with a bom'] }));
        expect(res.status).toBe(200);
        expect(res.body.guide.bannedPhrases).toEqual(['with a bom']);
      });

      it('in UTF-16 too: its BOM alone is no body, and before a JSON body it changes nothing', async () => {
        const other = `/api/companies/${randomUUID()}/crm/brand-voice/guide`;
        const putUtf16 = (bytes: Buffer) =>
          request(t.app)
            .put(other)
            .set('content-type', 'application/json; charset=utf-16le')
            // The bytes as they are: superagent sends a Buffer the serializer returns (its types say string only).
            .serialize((b: Buffer) => b as unknown as string)
            .set('content-length', String(bytes.length))
            .send(bytes);
        const bom = Buffer.from([0xff, 0xfe]);
        const alone = await putUtf16(bom);
        expect(alone.status).toBe(400);
        expect(alone.body).toEqual({ error: 'Expected a JSON object body (Content-Type: application/json)' });
        const res = await putUtf16(Buffer.concat([bom, Buffer.from(JSON.stringify({ bannedPhrases: ['utf-16'] }), 'utf16le')]));
        expect(res.status).toBe(200);
        expect(res.body.guide.bannedPhrases).toEqual(['utf-16']);
      });
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
