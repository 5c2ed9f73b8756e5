import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_FILE, clientTypes } from '../../src/http/client/generate.js';
import { OPERATIONS, openApiDocument } from '../../src/http/openapi/index.js';
import { SendBody } from '../../src/http/routes/send.js';
import { TEST_MASTER_KEY, type TestApp, adminToken, startTestApp } from '../support/app.js';
import { listRoutes } from '../support/routes.js';

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> };
};
type Operation = {
  security: Record<string, string[]>[];
  'x-crm-guard': string;
  'x-crm-actors': string[];
  requestBody?: unknown;
  parameters?: { name: string; in: string }[];
  responses: Record<string, unknown>;
};

const doc = openApiDocument() as unknown as Doc;
const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

describe('the OpenAPI document', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp('pglite', { config: { authMode: 'authenticated' } });
    token = await adminToken(t.rt);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('describes every route the app serves, and no route it does not serve', () => {
    const served = new Set(listRoutes(t.app).map((r) => `${r.method} ${r.path}`));
    const described = new Set(operations().map(({ path, method }) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
    expect([...served].filter((r) => !described.has(r)).sort(), 'served, not described').toEqual([]);
    expect([...described].filter((r) => !served.has(r)).sort(), 'described, not served').toEqual([]);
    // One entry per route in the table: a second would silently replace the first in `paths`.
    expect(OPERATIONS.length).toBe(described.size);
  });

  it('is served at /openapi.json to anyone, and holds no secret', async () => {
    const anon = await request(t.app).get('/openapi.json');
    expect(anon.status).toBe(200);
    expect(anon.body).toEqual(doc);
    expect(anon.body.openapi).toMatch(/^3\.1\./);
    // A bearer token that would be refused elsewhere changes nothing here.
    expect((await request(t.app).get('/openapi.json').set('authorization', 'Bearer nonsense')).status).toBe(200);
    const text = anon.text;
    for (const secret of [TEST_MASTER_KEY, token, t.rt.config.dataDir]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/postgres(?:ql)?:\/\//);
  });

  it('gives every operation its guard, parameters and error replies, and every $ref a target', () => {
    for (const { path, method, op } of operations()) {
      const what = `${method} ${path}`;
      expect(op['x-crm-actors'].length, what).toBeGreaterThan(0);
      const guarded = !['public', 'signed', 'unsubscribeToken'].includes(op['x-crm-guard']);
      expect(op.security.length > 0, what).toBe(guarded);
      if (guarded) {
        expect(op.responses, what).toHaveProperty('401');
        expect(op.responses, what).toHaveProperty('403');
      }
      if (op['x-crm-guard'] === 'companyBoard' || op['x-crm-guard'] === 'instanceAdmin')
        expect(op.security, what).toEqual([{ boardToken: [] }]);
      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))
        expect(
          op.parameters?.some((p) => p.in === 'path' && p.name === name),
          `${what}: ${name}`,
        ).toBe(true);
      if (op.requestBody) for (const status of ['400', '413', '415']) expect(op.responses, what).toHaveProperty(status);
      for (const status of ['500', '503']) expect(op.responses, what).toHaveProperty(status);
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const target = ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it("carries the route's own body schema: a field it requires, left out, is the route's 400", async () => {
    const required = doc.components.schemas.SendBody!.required!;
    expect(required.sort()).toEqual(
      Object.entries(SendBody.shape)
        .filter(([, s]) => !s.safeParse(undefined).success)
        .map(([k]) => k)
        .sort(),
    );
    const body: Record<string, unknown> = { channel: 'dry-run', outboxId: randomUUID(), to: 'a@example.org', payload: {} };
    for (const field of required) {
      const { [field]: _, ...rest } = body;
      const res = await request(t.app).post(`/api/companies/${randomUUID()}/crm/send`).set('authorization', `Bearer ${token}`).send(rest);
      expect(res.status, field).toBe(400);
      expect(res.body.details, field).toEqual([expect.objectContaining({ path: [field] })]);
    }
  });

  it("says a UUID in either case is one, as the routes' uuid does", () => {
    const id = randomUUID().toUpperCase();
    expect(SendBody.shape.outboxId.safeParse(id).success).toBe(true);
    const field = doc.components.schemas.SendBody!.properties!.outboxId as { pattern: string; format: string };
    expect(field.format).toBe('uuid');
    expect(new RegExp(field.pattern).test(id)).toBe(true);
  });

  it('is rendered at /docs from files this service serves: nothing from elsewhere', async () => {
    const page = await request(t.app).get('/docs');
    expect(page.status).toBe(200);
    expect(page.type).toBe('text/html');
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/https?:|\*/);
    expect(page.text).not.toMatch(/(?:https?:)?\/\//);
    const urls = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) {
      expect(url, url).toMatch(/^docs\/assets\/[\w.-]+$/);
      const asset = await request(t.app).get(`/${url}`);
      expect(asset.status, url).toBe(200);
      expect(asset.body.length || asset.text.length, url).toBeGreaterThan(0);
    }
    const init = await request(t.app).get('/docs/assets/init.js');
    // Swagger UI's default asks validator.swagger.io for a badge; the page loads its document from this origin.
    expect(init.text).toContain('validatorUrl: null');
    expect(init.text).toContain("url: 'openapi.json'");
    for (const bad of ['nothing.js', 'package.json', '..%2Fpackage.json', 'index.html'])
      expect((await request(t.app).get(`/docs/assets/${bad}`)).status, bad).toBe(404);
    const slash = await request(t.app).get('/docs/');
    expect(slash.status).toBe(301);
    expect(slash.headers.location).toBe('../docs');
  });

  it('the committed client types are those the document generates (npm run openapi:types)', async () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(await clientTypes());
  });
});
