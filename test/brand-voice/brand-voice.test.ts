import { createHash, randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrandVoiceChecker } from '../../src/brand-voice/checker.js';
import { guideChecker } from '../../src/brand-voice/guide-checker.js';
import { llmChecker } from '../../src/brand-voice/llm-checker.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The guide checker, counting its runs and slow enough that concurrent checks overlap. */
function countingChecker() {
  const c = { calls: 0 };
  const checker: BrandVoiceChecker = {
    name: 'counting',
    async check(input) {
      c.calls++;
      await new Promise((r) => setTimeout(r, 50));
      return guideChecker.check(input);
    },
  };
  return { checker, c };
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`brand-voice check on ${backend}`, () => {
    let t: TestApp;
    const counting = countingChecker();
    const A = randomUUID();
    const check = (draft: string, extra: Record<string, unknown> = {}, company = A) =>
      request(t.app)
        .post(`/api/companies/${company}/crm/brand-voice/check`)
        .send({ contentSha256: sha(draft), draft, ...extra });
    beforeAll(async () => {
      t = await startTestApp(backend, { checker: counting.checker });
    });
    afterAll(() => t?.close());

    it('misses, then hits the cache without running the checker', async () => {
      const before = counting.c.calls;
      const first = await check('Hello, Ana. Best, Lou');
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ pass: true, score: 1, findings: [], cached: false, failed: false, guideVersion: 0 });
      const second = await check('Hello, Ana. Best, Lou');
      expect(second.body).toMatchObject({ pass: true, cached: true });
      expect(counting.c.calls - before).toBe(1);
    });

    it('fifty concurrent identical checks run the checker once', async () => {
      const before = counting.c.calls;
      const draft = `Concurrent ${randomUUID()}`;
      const replies = await Promise.all(Array.from({ length: 50 }, () => check(draft)));
      expect(replies.every((r) => r.status === 200 && r.body.pass === true)).toBe(true);
      expect(counting.c.calls - before).toBe(1);
      expect(replies.filter((r) => r.body.cached === false)).toHaveLength(1);
    });

    it('a new guide version misses the older entries; the same guide again is no new version', async () => {
      const draft = 'BUY NOW!!! Limited offer';
      expect((await check(draft)).body).toMatchObject({ pass: true, guideVersion: 0 });
      const put = await request(t.app)
        .put(`/api/companies/${A}/crm/brand-voice/guide`)
        .send({ bannedPhrases: ['buy now'], maxExclamationMarks: 1, shouting: { maxAllCapsWords: 0 } });
      expect(put.status).toBe(200);
      expect(put.body.version).toBe(1);
      const before = counting.c.calls;
      const after = await check(draft);
      expect(after.body).toMatchObject({ pass: false, cached: false, guideVersion: 1 });
      expect(after.body.findings.map((f: { rule: string }) => f.rule)).toEqual([
        'banned_phrase',
        'shouting',
        'shouting',
        'exclamation_marks',
        'exclamation_marks',
      ]);
      expect(counting.c.calls - before).toBe(1);
      const same = await request(t.app)
        .put(`/api/companies/${A}/crm/brand-voice/guide`)
        .send({ bannedPhrases: ['buy now'], maxExclamationMarks: 1, shouting: { maxAllCapsWords: 0 } });
      expect(same.body.version).toBe(1);
      expect((await check(draft)).body).toMatchObject({ cached: true, guideVersion: 1 });
      expect((await request(t.app).get(`/api/companies/${A}/crm/brand-voice/guide`)).body).toMatchObject({
        version: 1,
        guide: { bannedPhrases: ['buy now'] },
      });
    });

    it('the channel is part of the key (length limits differ per channel)', async () => {
      const B = randomUUID();
      await request(t.app)
        .put(`/api/companies/${B}/crm/brand-voice/guide`)
        .send({ maxLength: { linkedin: 5 } });
      expect((await check('Too long here', { channel: 'linkedin' }, B)).body).toMatchObject({ pass: false });
      expect((await check('Too long here', { channel: 'email' }, B)).body).toMatchObject({ pass: true, cached: false });
    });

    it('refuses a hash that is not the draft’s (the cache cannot be poisoned), and bad bodies, with 400', async () => {
      const before = counting.c.calls;
      const res = await request(t.app)
        .post(`/api/companies/${A}/crm/brand-voice/check`)
        .send({ contentSha256: sha('other text'), draft: 'SHOUT' });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/not the SHA-256 of draft/);
      for (const body of [
        { draft: 'x' },
        { contentSha256: 'abc', draft: 'x' },
        { contentSha256: sha('x'), draft: 'x', extra: 1 },
        { contentSha256: sha('x'), draft: 'x', channel: 'fax' },
      ]) {
        expect((await request(t.app).post(`/api/companies/${A}/crm/brand-voice/check`).send(body)).status).toBe(400);
      }
      for (const guide of [{ bannedPhrases: 'x' }, { unknown: 1 }, { maxLength: { fax: 3 } }, { maxExclamationMarks: -1 }]) {
        expect((await request(t.app).put(`/api/companies/${A}/crm/brand-voice/guide`).send(guide)).status).toBe(400);
      }
      expect(counting.c.calls).toBe(before);
      expect((await request(t.app).get(`/api/companies/${A}/crm/brand-voice/guide`)).body.version).toBe(1);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));

describe('the LLM checker against a local OpenAI-compatible endpoint', () => {
  it('sends the guide and draft with the key, and reads the verdict', async () => {
    const server = await fakeHttpServer((_req, res) =>
      json(res, 200, {
        id: 'chatcmpl-1',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: JSON.stringify({ pass: false, score: 0.4, findings: [{ rule: 'tone', message: 'too pushy', start: 0, end: 3 }] }),
            },
          },
        ],
      }),
    );
    try {
      const checker = llmChecker({ baseUrl: `${server.url}/v1/`, apiKey: 'sk-test-key', model: 'test-model', timeoutMs: 2000 });
      const v = await checker.check({
        draft: 'Buy it',
        guide: { bannedPhrases: [], requiredPhrases: [], maxLength: {}, maxExclamationMarks: null, shouting: null, requiredSignOff: null },
        channel: 'email',
      });
      expect(v).toEqual({ pass: false, score: 0.4, findings: [{ rule: 'tone', message: 'too pushy', start: 0, end: 3 }] });
      const req = server.received[0]!;
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/v1/chat/completions');
      expect(req.headers.authorization).toBe('Bearer sk-test-key');
      const body = JSON.parse(req.body);
      expect(body.model).toBe('test-model');
      expect(body.messages[1].content).toContain('Buy it');
    } finally {
      await server.close();
    }
  });

  it('an error, a timeout or a non-verdict is a failed check that is never cached', async () => {
    let mode: 'error' | 'slow' | 'garbage' = 'error';
    const server = await fakeHttpServer(async (_req, res) => {
      if (mode === 'error') return json(res, 500, { error: { message: 'boom' } });
      if (mode === 'slow') await new Promise((r) => setTimeout(r, 1500));
      json(res, 200, { choices: [{ message: { content: 'I think it is fine' } }] });
    });
    const t = await startTestApp('pglite', { checker: llmChecker({ baseUrl: server.url, apiKey: 'k', model: 'm', timeoutMs: 500 }) });
    try {
      const company = randomUUID();
      const draft = 'Hello there';
      const call = () =>
        request(t.app)
          .post(`/api/companies/${company}/crm/brand-voice/check`)
          .send({ contentSha256: sha(draft), draft });
      for (const m of ['error', 'slow', 'garbage'] as const) {
        mode = m;
        const before = server.received.length;
        const res = await call();
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ pass: false, failed: true, cached: false });
        expect(res.body.findings[0].rule).toBe('checker_failed');
        expect(server.received.length).toBe(before + 1);
      }
      expect(JSON.stringify((await call()).body)).toMatch(/checker_failed/);
    } finally {
      await t.close();
      await server.close();
    }
  });
});
