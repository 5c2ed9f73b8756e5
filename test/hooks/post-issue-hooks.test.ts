import { createHash, createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../src/commands/actor.js';
import { syncHookRegistryAtStart } from '../../src/commands/post-issue-hooks.js';
import { HOOK_REGISTRY_STREAM } from '../../src/domain/post-issue-hooks.js';
import { createLogger } from '../../src/logger.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp, tempDir } from '../support/app.js';
import { fakeHttpServer, json } from '../support/fake-http.js';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function suite(backend: 'pglite' | 'postgres') {
  describe(`post-issue hooks on ${backend}`, () => {
    let t: TestApp;
    const dir = tempDir();
    const file = join(dir.path, 'hooks.yaml');
    const company = randomUUID();
    let receiver: Awaited<ReturnType<typeof fakeHttpServer>>;
    let failuresBeforeSuccess = 0;
    let secretRef = '';
    const HMAC_KEY = 'whsec-test-key';

    beforeAll(async () => {
      receiver = await fakeHttpServer((_req, res) => {
        if (failuresBeforeSuccess > 0) {
          failuresBeforeSuccess--;
          return json(res, 503, { error: 'busy' }, { 'retry-after': '0' });
        }
        json(res, 200, { ok: true });
      });
      writeFileSync(file, 'hooks: []\n');
      t = await startTestApp(backend, { config: { postIssueHooksPath: file } });
      // Instance configuration signs with an instance secret, which only operators set.
      const s = await request(t.app).post('/api/admin/secrets').send({ name: 'hook-key', value: HMAC_KEY });
      expect(s.status).toBe(201);
      secretRef = s.body.ref;
    });
    afterAll(async () => {
      await t?.close();
      await receiver?.close();
      dir.remove();
    });

    const run = (body: Record<string, unknown>) => request(t.app).post(`/api/companies/${company}/crm/post-issue-hooks/run`).send(body);

    it('reloads a valid file, records each reload, and runs the matching hooks', async () => {
      writeFileSync(
        file,
        `hooks:
  - name: coverage
    on: { statuses: [done], labels: [marketing] }
    action: brand-voice-coverage
  - name: notify
    action: webhook
    url: ${receiver.url}/hook
    secretRef: ${secretRef}
`,
      );
      const reload = await request(t.app).post('/api/admin/post-issue-hooks/reload');
      expect(reload.status).toBe(200);
      expect(reload.body).toEqual({
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        hooks: [
          { name: 'coverage', on: { statuses: ['done'], labels: ['marketing'] }, action: 'brand-voice-coverage' },
          { name: 'notify', on: null, action: 'webhook' },
        ],
      });
      const recorded = await t.rt.store.readStream(HOOK_REGISTRY_STREAM);
      expect(recorded.at(-1)!.data).toMatchObject({ sha256: reload.body.sha256, reloadedBy: 'board:local' });

      await request(t.app)
        .put(`/api/companies/${company}/crm/brand-voice/guide`)
        .send({ bannedPhrases: ['act now'] });
      const good = 'A calm, useful note.';
      const bad = 'Act now!';
      const res = await run({
        issueId: 'ISS-1',
        status: 'done',
        labels: ['marketing', 'q3'],
        artifacts: [
          { contentSha256: sha(good), draft: good, channel: 'email' },
          { contentSha256: sha(bad), draft: bad, channel: 'email' },
        ],
      });
      expect(res.status).toBe(200);
      const [coverage, notify] = res.body.results;
      expect(coverage).toMatchObject({ name: 'coverage', ok: true, passed: 1, total: 2, share: 0.5 });
      expect(notify).toMatchObject({ name: 'notify', ok: true, status: 200, attempts: 1 });

      const delivered = receiver.received.at(-1)!;
      expect(delivered.url).toBe('/hook');
      const expected = `sha256=${createHmac('sha256', HMAC_KEY).update(delivered.body).digest('hex')}`;
      expect(delivered.headers['x-crm-signature-256']).toBe(expected);
      expect(JSON.parse(delivered.body)).toMatchObject({ hook: 'notify', companyId: company, issueId: 'ISS-1', status: 'done' });
      expect(delivered.body).not.toContain(HMAC_KEY);

      // Not matching `on`: only the webhook runs.
      const other = await run({ issueId: 'ISS-2', status: 'open', labels: [] });
      expect(other.body.results.map((r: { name: string }) => r.name)).toEqual(['notify']);
    });

    it('retries a webhook that answers 503, with the same delivery id', async () => {
      const before = receiver.received.length;
      failuresBeforeSuccess = 2;
      const res = await run({ issueId: 'ISS-3', status: 'open', labels: [] });
      expect(res.body.results[0]).toMatchObject({ ok: true, attempts: 3 });
      const attempts = receiver.received.slice(before);
      expect(attempts).toHaveLength(3);
      expect(new Set(attempts.map((a) => a.headers['x-crm-delivery'])).size).toBe(1);
    });

    it('a broken file is a 422 with line and column, and the previous registry stays in force', async () => {
      const before = (await t.rt.store.readStream(HOOK_REGISTRY_STREAM)).length;
      writeFileSync(file, 'hooks:\n  - name: x\n    action: [broken\n');
      const res = await request(t.app).post('/api/admin/post-issue-hooks/reload');
      expect(res.status).toBe(422);
      expect(res.body.details.problems[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
      writeFileSync(file, 'hooks:\n  - name: x\n    action: nope\n');
      const schema = await request(t.app).post('/api/admin/post-issue-hooks/reload');
      expect(schema.status).toBe(422);
      expect(schema.body.details.problems[0]).toMatchObject({ line: 3 });
      expect((await t.rt.store.readStream(HOOK_REGISTRY_STREAM)).length).toBe(before);
      const still = await run({ issueId: 'ISS-4', status: 'done', labels: ['marketing'] });
      expect(still.body.results.map((r: { name: string }) => r.name)).toEqual(['coverage', 'notify']);
    });

    it('refuses a run whose artifact hash is not its draft’s, or with unknown fields, with 400', async () => {
      const before = receiver.received.length;
      expect((await run({ issueId: 'x', status: 'done', labels: [], artifacts: [{ contentSha256: sha('a'), draft: 'b' }] })).status).toBe(
        400,
      );
      expect((await run({ issueId: 'x', status: 'done', extra: 1 })).status).toBe(400);
      expect((await run({ status: 'done' })).status).toBe(400);
      expect(receiver.received.length).toBe(before);
    });

    it("refuses a registry whose webhook names a company's secret, at reload and at start; one recorded earlier never signs", async () => {
      const COMPANY_KEY = 'a-key-the-company-chose';
      const companySecret = await request(t.app)
        .post(`/api/companies/${company}/crm/secrets`)
        .send({ name: 'my-hook-key', value: COMPANY_KEY });
      expect(companySecret.status).toBe(201);
      const yaml = (ref: string) =>
        `hooks:\n  - name: notify-all\n    action: webhook\n    url: ${receiver.url}/evil\n    secretRef: ${ref}\n`;
      const recordedBefore = (await t.rt.store.readStream(HOOK_REGISTRY_STREAM)).length;

      writeFileSync(file, yaml(companySecret.body.ref));
      const reload = await request(t.app).post('/api/admin/post-issue-hooks/reload');
      expect(reload.status).toBe(422);
      expect(reload.body.details.problems).toEqual([
        {
          message: expect.stringMatching(
            /^hook "notify-all": secretRef names a company's secret: instance configuration takes only instance secrets/,
          ),
          path: ['hooks', 0, 'secretRef'],
          line: 5,
          column: expect.any(Number),
        },
      ]);
      // A reference to no secret at all is refused the same way, with its own reason.
      writeFileSync(file, yaml(`secret://${randomUUID()}:latest`));
      const missing = await request(t.app).post('/api/admin/post-issue-hooks/reload');
      expect(missing.status).toBe(422);
      expect(missing.body.details.problems[0].message).toMatch(/does not name an instance secret/);

      // At start: logged, not taken.
      writeFileSync(file, yaml(companySecret.body.ref));
      const lines: string[] = [];
      await syncHookRegistryAtStart(
        t.rt,
        SYSTEM_ACTOR,
        createLogger('warn', (l) => lines.push(l)),
      );
      expect(lines.join('\n')).toMatch(/post-issue hooks file not loaded.*names a company's secret/);
      expect((await t.rt.store.readStream(HOOK_REGISTRY_STREAM)).length).toBe(recordedBefore);

      // A registry recorded before instance secrets existed, naming the company's secret: the hook fails, unsigned.
      await t.rt.store.append(
        HOOK_REGISTRY_STREAM,
        [
          {
            type: 'PostIssueHooksReloaded',
            data: {
              sha256: sha('old'),
              registry: {
                hooks: [{ name: 'notify-all', action: 'webhook', url: `${receiver.url}/evil`, secretRef: companySecret.body.ref }],
              },
              source: file,
              reloadedBy: 'board:local',
              reloadedAt: new Date().toISOString(),
            },
          },
        ],
        'any',
      );
      const before = receiver.received.length;
      const res = await run({ issueId: 'ISS-9', status: 'done', labels: [] });
      expect(res.status).toBe(200);
      expect(res.body.results).toEqual([
        { name: 'notify-all', action: 'webhook', ok: false, error: 'the webhook secret cannot be resolved' },
      ]);
      expect(receiver.received.length).toBe(before);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
