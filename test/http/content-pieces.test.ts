import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentPieceStream } from '../../src/domain/content-piece.js';
import { StreamNotFoundError } from '../../src/eventstore/port.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';

const sha = 'ab'.repeat(32);

function suite(backend: 'pglite' | 'postgres') {
  describe(`content pieces on ${backend}`, () => {
    let t: TestApp;
    const A = randomUUID();
    const B = randomUUID();
    const url = (company = A) => `/api/companies/${company}/crm/content-pieces`;
    const body = (over: Record<string, unknown> = {}) => ({
      title: 'Q3 nurture sequence — first touch',
      summary: 'Why now',
      sourcePath: `knowledge/marketing/${randomUUID()}.md`,
      sourceSha256: sha,
      tags: ['nurture', 'renovation'],
      channelIntent: 'email',
      niche: 'renovation',
      ...over,
    });
    beforeAll(async () => {
      t = await startTestApp(backend);
    });
    afterAll(() => t?.close());

    it('creates, reads its own write at once, filters, patches and soft-deletes', async () => {
      const created = await request(t.app)
        .post(url())
        .send(body({ sourcePath: 'knowledge/a.md', frontmatter: { author: 'x' } }));
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.any(String),
        sourcePath: 'knowledge/a.md',
        tags: ['nurture', 'renovation'],
        frontmatter: { author: 'x' },
      });
      const id = created.body.id as string;
      await request(t.app)
        .post(url())
        .send(body({ niche: 'solar', channelIntent: 'linkedin' }));

      expect((await request(t.app).get(url()).query({ sourcePath: 'knowledge/a.md' })).body.items.map((p: { id: string }) => p.id)).toEqual(
        [id],
      );
      expect((await request(t.app).get(url()).query({ niche: 'solar' })).body.items).toHaveLength(1);
      expect((await request(t.app).get(url()).query({ channelIntent: 'email' })).body.items.map((p: { id: string }) => p.id)).toEqual([id]);
      expect((await request(t.app).get(url(B))).body.items).toEqual([]);

      const patched = await request(t.app).patch(`${url()}/${id}`).send({ title: 'New title', tags: [] });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ title: 'New title', tags: [], summary: 'Why now' });

      expect((await request(t.app).delete(`${url()}/${id}`)).status).toBe(204);
      expect((await request(t.app).get(`${url()}/${id}`)).status).toBe(404);
      expect((await request(t.app).patch(`${url()}/${id}`).send({ title: 'x' })).status).toBe(404);
      expect((await request(t.app).delete(`${url()}/${id}`)).status).toBe(404);
      expect((await request(t.app).get(url()).query({ sourcePath: 'knowledge/a.md' })).body.items).toEqual([]);
      // Its history stays in the log.
      expect((await t.rt.store.readStream(contentPieceStream(id))).map((e) => e.type)).toEqual([
        'ContentPieceCreated',
        'ContentPieceUpdated',
        'ContentPieceDeleted',
      ]);
      // The path is free again once its piece is deleted.
      expect(
        (
          await request(t.app)
            .post(url())
            .send(body({ sourcePath: 'knowledge/a.md' }))
        ).status,
      ).toBe(201);
    });

    it('another company’s piece is 404 everywhere', async () => {
      const other = await request(t.app).post(url(B)).send(body());
      for (const res of [
        await request(t.app).get(`${url()}/${other.body.id}`),
        await request(t.app).patch(`${url()}/${other.body.id}`).send({ title: 'x' }),
        await request(t.app).delete(`${url()}/${other.body.id}`),
      ]) {
        expect(res.status).toBe(404);
      }
    });

    it('a duplicate sourcePath is 409 with the existing id, also when identical POSTs race', async () => {
      const first = await request(t.app)
        .post(url())
        .send(body({ sourcePath: 'dup/one.md' }));
      const again = await request(t.app)
        .post(url())
        .send(body({ sourcePath: 'dup/one.md' }));
      expect(again.status).toBe(409);
      expect(again.body.details).toEqual({ existingId: first.body.id });
      // The same path in another company is fine.
      expect(
        (
          await request(t.app)
            .post(url(B))
            .send(body({ sourcePath: 'dup/one.md' }))
        ).status,
      ).toBe(201);

      const racing = await Promise.all(
        Array.from({ length: 12 }, () =>
          request(t.app)
            .post(url())
            .send(body({ sourcePath: 'dup/race.md' })),
        ),
      );
      const statuses = racing.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(11);
      const winner = racing.find((r) => r.status === 201)!.body.id;
      for (const r of racing.filter((x) => x.status === 409)) expect(r.body.details.existingId).toBe(winner);
      expect((await request(t.app).get(url()).query({ sourcePath: 'dup/race.md' })).body.items).toHaveLength(1);

      // Moving a piece onto a taken path is refused too; onto a free one, it frees the old path.
      const second = await request(t.app)
        .post(url())
        .send(body({ sourcePath: 'dup/two.md' }));
      const moveOnto = await request(t.app).patch(`${url()}/${second.body.id}`).send({ sourcePath: 'dup/one.md' });
      expect(moveOnto.status).toBe(409);
      expect((await request(t.app).patch(`${url()}/${second.body.id}`).send({ sourcePath: 'dup/three.md' })).status).toBe(200);
      expect(
        (
          await request(t.app)
            .post(url())
            .send(body({ sourcePath: 'dup/two.md' }))
        ).status,
      ).toBe(201);
    });

    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['title over 512 bytes', { title: 'é'.repeat(257) }, /title must be at most 512 bytes/],
      ['summary over 4 KB', { summary: 'x'.repeat(4097) }, /summary must be at most 4096 bytes/],
      ['51 tags', { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }, /at most 50 tags/],
      ['a tag over 64 bytes', { tags: ['x'.repeat(65)] }, /each tag must be at most 64 bytes/],
      ['frontmatter over 64 KB', { frontmatter: { big: 'x'.repeat(65 * 1024) } }, /frontmatter must be at most 65536 bytes/],
      ['a short hash', { sourceSha256: 'abc' }, /64 hex/],
      ['a non-hex hash', { sourceSha256: 'g'.repeat(64) }, /64 hex/],
      ['..', { sourcePath: '../secret.md' }, /sourcePath/],
      ['inner ..', { sourcePath: 'a/../../b.md' }, /sourcePath/],
      ['%2e%2e', { sourcePath: 'a/%2e%2e/b.md' }, /sourcePath/],
      ['%2E%2E mixed case', { sourcePath: 'a/%2E%2e/b.md' }, /sourcePath/],
      ['double encoded', { sourcePath: 'a/%252e%252e/b.md' }, /sourcePath/],
      ['backslashes', { sourcePath: 'a\\..\\b.md' }, /sourcePath/],
      ['mixed separators', { sourcePath: 'a/..\\b.md' }, /sourcePath/],
      ['encoded slash', { sourcePath: '..%2fetc%2fpasswd' }, /sourcePath/],
      ['absolute', { sourcePath: '/etc/passwd' }, /sourcePath/],
      ['drive letter', { sourcePath: 'C:\\x.md' }, /sourcePath/],
      ['NUL', { sourcePath: 'a/b\u0000.md' }, /sourcePath/],
      ['encoded NUL', { sourcePath: 'a/b%00.md' }, /sourcePath/],
      ['empty segment', { sourcePath: 'a//b.md' }, /sourcePath/],
      ['empty', { sourcePath: '' }, /sourcePath/],
      ['unknown field', { colour: 'red' }, /Validation failed/],
      ['a NUL in the title', { title: 'a\u0000b' }, /NUL/],
      ['an unpaired surrogate', { summary: 'a\ud800b' }, /surrogate/],
      ['percent-encoded four times', { sourcePath: 'docs/%2525252e%2525252e/x.md' }, /sourcePath/],
      ['frontmatter nested 100 deep', { frontmatter: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) }, /nested/],
      ['bad niche', { niche: 'Not A Slug' }, /niche/],
      ['bad channel', { channelIntent: 'fax' }, /Validation failed/],
    ];
    it.each(bad)('refuses %s with a 400 naming the problem, and writes nothing', async (_what, over, message) => {
      const before = (await request(t.app).get(url())).body.items.length;
      const res = await request(t.app).post(url()).send(body(over));
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toMatch(message);
      expect((await request(t.app).get(url())).body.items.length).toBe(before);
    });

    it('one file, however spelled, is one piece; a NUL in a filter is a 400', async () => {
      const first = await request(t.app)
        .post(url())
        .send(body({ sourcePath: 'kb/spelled.md' }));
      expect(first.status).toBe(201);
      for (const spelling of ['kb%2Fspelled.md', 'kb\\spelled.md', 'kb/spelled%2emd']) {
        const res = await request(t.app)
          .post(url())
          .send(body({ sourcePath: spelling }));
        expect(res.status, spelling).toBe(409);
        expect(res.body.details.existingId).toBe(first.body.id);
      }
      expect((await request(t.app).get(url()).query({ sourcePath: 'a\u0000b' })).status).toBe(400);
    });

    it('a bad patch is 400 and changes nothing', async () => {
      const created = await request(t.app).post(url()).send(body());
      for (const patch of [{}, { sourcePath: '../x' }, { title: '' }, { id: 'x' }]) {
        expect((await request(t.app).patch(`${url()}/${created.body.id}`).send(patch)).status).toBe(400);
      }
      expect((await t.rt.store.readStream(contentPieceStream(created.body.id))).length).toBe(1);
      await expect(t.rt.store.readStream(contentPieceStream(randomUUID()))).rejects.toBeInstanceOf(StreamNotFoundError);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
