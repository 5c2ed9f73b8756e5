import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEgressAllow } from '../../src/channels/egress.js';
import { type CrmClient, crmClient } from '../../src/http/client/index.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';
import { smtpServer } from '../support/smtp.js';

/**
 * The send flow end to end over a real socket, through the client generated from the OpenAPI document: if a path,
 * a body or a reply drifts from what the document says, this fails to compile (tsc) or to run.
 */
describe('the typed client (openapi-fetch over the generated types)', () => {
  let t: TestApp;
  let server: Server;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let baseUrl: string;
  let client: CrmClient;
  beforeAll(async () => {
    smtp = await smtpServer();
    // The SMTP server is on loopback, which an authenticated instance does not connect to unless allowed.
    t = await startTestApp('pglite', { config: { authMode: 'authenticated', egressAllow: parseEgressAllow('127.0.0.1/32') } });
    server = await new Promise<Server>((resolve) => {
      const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = crmClient(baseUrl, { token: await adminToken(t.rt) });
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
    await smtp?.close();
  });

  it('creates a secret, an outbox, an allowlist entry and a rule, sends, and reads the activity and its history', async () => {
    const companyId = randomUUID();
    const path = { companyId };

    const secret = await client.POST('/api/companies/{companyId}/crm/secrets', {
      params: { path },
      body: { name: 'smtp', value: smtp.url },
    });
    expect(secret.response.status).toBe(201);
    const ref = secret.data!.ref;
    expect(ref).toMatch(/^secret:\/\//);

    const outbox = await client.POST('/api/companies/{companyId}/crm/outboxes', {
      params: { path },
      body: { channel: 'email', secretRef: ref, config: { fromAddress: 'ops@example.com', fromName: 'Ops' }, dailyCap: 10 },
    });
    expect(outbox.response.status).toBe(201);
    expect(outbox.data).toMatchObject({ channel: 'email', secretRef: ref, dailyCap: 10, timezone: 'UTC' });
    // The document says a write read back from the read models may be a 202 when they lag: the type makes the test say so.
    if (!outbox.data || !('id' in outbox.data)) throw new Error(`no outbox in the reply: ${JSON.stringify(outbox.data)}`);
    const outboxId = outbox.data.id;

    const entry = await client.POST('/api/companies/{companyId}/crm/allowlist', {
      params: { path },
      body: { pattern: 'Ana@Example.org' },
    });
    expect(entry.response.status).toBe(201);
    expect(entry.data).toMatchObject({ pattern: 'ana@example.org', channel: null, note: null });

    const rule = await client.POST('/api/companies/{companyId}/crm/approval-rules', {
      params: { path },
      body: { predicate: { channel: 'email' }, action: 'auto_approve' },
    });
    expect(rule.response.status).toBe(201);

    const sent = await client.POST('/api/companies/{companyId}/crm/send', {
      params: { path },
      body: { channel: 'email', outboxId, to: 'ana@example.org', payload: { subject: 'Hello', text: 'A short note.' } },
    });
    expect(sent.response.status).toBe(200);
    expect(sent.response.headers.get('x-crm-position')).toBeTruthy();
    expect(sent.data).toEqual({ id: expect.any(String), status: 'sent' });
    const activityId = sent.data!.id;
    expect(smtp.messages.some((m) => m.to.map((x) => x.toLowerCase()).includes('ana@example.org'))).toBe(true);

    const activity = await client.GET('/api/companies/{companyId}/crm/activities/{activityId}', {
      params: { path: { companyId, activityId } },
    });
    expect(activity.response.status).toBe(200);
    expect(activity.data).toMatchObject({ id: activityId, status: 'sent', channel: 'email', outboxId, to: 'ana@example.org', error: null });
    expect(activity.data!.deliveryEvents).toEqual([]);

    const history = await client.GET('/api/companies/{companyId}/crm/activities/{activityId}/history', {
      params: { path: { companyId, activityId } },
    });
    expect(history.data!.events.map((e) => e.type)).toEqual([
      'ActivityRequested',
      'ActivityApproved',
      'ActivityDispatching',
      'ActivitySent',
    ]);

    const page = await client.GET('/api/companies/{companyId}/crm/activities', { params: { path, query: { status: 'sent', limit: 10 } } });
    expect(page.data!.items.map((a) => a.id)).toEqual([activityId]);
    expect(page.data!.nextCursor).toBeNull();
  });

  it('refusals come back as the documented error shape', async () => {
    const anonymous = crmClient(baseUrl);
    const refused = await anonymous.GET('/api/companies/{companyId}/crm/outboxes', { params: { path: { companyId: randomUUID() } } });
    expect(refused.response.status).toBe(401);
    expect(refused.error).toEqual({ error: 'Unauthorized' });

    const invalid = await client.POST('/api/companies/{companyId}/crm/allowlist', {
      params: { path: { companyId: randomUUID() } },
      body: { pattern: 'not a recipient' },
    });
    expect(invalid.response.status).toBe(400);
    expect(invalid.error).toMatchObject({ error: 'Validation failed', details: [expect.objectContaining({ path: ['pattern'] })] });
  });
});
