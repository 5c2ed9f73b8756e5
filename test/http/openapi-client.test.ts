import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEgressAllow } from '../../src/channels/egress.js';
import { type CrmClient, crmClient } from '../../src/http/client/index.js';
import * as shapes from '../../src/http/openapi/replies.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';
import { smtpServer } from '../support/smtp.js';

/**
 * The send flow end to end over a real socket, through the client generated from the OpenAPI document: if a path,
 * a body or a reply drifts from what the document says, this fails to compile (tsc) or to run.
 */
/**
 * The reply is what the document says: its schema parses it, and it has no field the schema does not name. The
 * compiler checks the client against the document; this checks the document against the service.
 */
function conforms(schema: z.ZodType, value: unknown, what: string) {
  const r = schema.safeParse(value);
  expect(r.success, `${what}: ${r.error?.message}`).toBe(true);
  if (schema instanceof z.ZodObject && value && typeof value === 'object')
    expect(
      Object.keys(value).filter((k) => !(k in schema.shape)),
      `${what}: fields the document does not name`,
    ).toEqual([]);
}

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

  it('creates a secret, an outbox, an allowlist entry and a rule, sends, reads the activity, and the replies are as documented', async () => {
    const companyId = randomUUID();
    const path = { companyId };

    const secret = await client.POST('/api/companies/{companyId}/crm/secrets', {
      params: { path },
      body: { name: 'smtp', value: smtp.url },
    });
    expect(secret.response.status).toBe(201);
    conforms(shapes.SecretVersion, secret.data, 'secret');
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
    conforms(shapes.Outbox, outbox.data, 'outbox');

    const entry = await client.POST('/api/companies/{companyId}/crm/allowlist', {
      params: { path },
      body: { pattern: 'Ana@Example.org' },
    });
    expect(entry.response.status).toBe(201);
    expect(entry.data).toMatchObject({ pattern: 'ana@example.org', channel: null, note: null });
    conforms(shapes.AllowlistEntry, entry.data, 'allowlist entry');

    const rule = await client.POST('/api/companies/{companyId}/crm/approval-rules', {
      params: { path },
      body: { predicate: { channel: 'email' }, action: 'auto_approve' },
    });
    expect(rule.response.status).toBe(201);
    conforms(shapes.ApprovalRule, rule.data, 'approval rule');

    const sent = await client.POST('/api/companies/{companyId}/crm/send', {
      params: { path },
      body: { channel: 'email', outboxId, to: 'ana@example.org', payload: { subject: 'Hello', text: 'A short note.' } },
    });
    expect(sent.response.status).toBe(200);
    expect(sent.response.headers.get('x-crm-position')).toBeTruthy();
    expect(sent.data).toEqual({ id: expect.any(String), status: 'sent' });
    conforms(shapes.SendResult, sent.data, 'send');
    const activityId = sent.data!.id;
    expect(smtp.messages.some((m) => m.to.map((x) => x.toLowerCase()).includes('ana@example.org'))).toBe(true);

    const activity = await client.GET('/api/companies/{companyId}/crm/activities/{activityId}', {
      params: { path: { companyId, activityId } },
    });
    expect(activity.response.status).toBe(200);
    expect(activity.data).toMatchObject({ id: activityId, status: 'sent', channel: 'email', outboxId, to: 'ana@example.org', error: null });
    expect(activity.data!.deliveryEvents).toEqual([]);
    conforms(shapes.Activity, activity.data, 'activity');

    const history = await client.GET('/api/companies/{companyId}/crm/activities/{activityId}/history', {
      params: { path: { companyId, activityId } },
    });
    expect(history.data!.events.map((e) => e.type)).toEqual(['ActivityRequested', 'ActivityDispatching', 'ActivitySent']);

    const page = await client.GET('/api/companies/{companyId}/crm/activities', { params: { path, query: { status: 'sent', limit: 10 } } });
    expect(page.data!.items.map((a) => a.id)).toEqual([activityId]);
    expect(page.data!.nextCursor).toBeNull();
    for (const item of page.data!.items) conforms(shapes.ActivitySummary, item, 'activity in a page');

    const buckets = await client.GET('/api/companies/{companyId}/crm/credential-buckets', { params: { path } });
    expect(buckets.data!.items).toEqual([expect.objectContaining({ credential: secret.data!.id, cap: 10, used: 1 })]);
    for (const item of buckets.data!.items) conforms(shapes.CredentialBucket, item, 'credential bucket');

    // Content and sequences: their replies against the document too.
    const piece = await client.POST('/api/companies/{companyId}/crm/content-pieces', {
      params: { path },
      body: { title: 'Q3 plans', sourcePath: 'posts/q3.md', sourceSha256: 'a'.repeat(64), tags: ['q3'] },
    });
    expect(piece.response.status).toBe(201);
    conforms(shapes.ContentPiece, piece.data, 'content piece');
    const sequence = await client.POST('/api/companies/{companyId}/crm/sequences', {
      params: { path },
      body: { name: 'Follow-up', steps: [{ outboxId, channel: 'dry-run', payload: { subject: 'Hi', text: 'x' }, waitBefore: 'P1D' }] },
    });
    expect(sequence.response.status).toBe(201);
    if (!sequence.data || !('id' in sequence.data)) throw new Error(`no sequence in the reply: ${JSON.stringify(sequence.data)}`);
    conforms(shapes.Sequence, sequence.data, 'sequence');
    const sequenceId = sequence.data.id;
    const enrolled = await client.POST('/api/companies/{companyId}/crm/sequences/{sequenceId}/enrollments', {
      params: { path: { companyId, sequenceId } },
      body: { contacts: [{ to: 'ana@example.org' }] },
    });
    expect(enrolled.response.status).toBe(201);
    conforms(shapes.Enrolled, enrolled.data, 'enrollment result');
    const enrollment = await client.GET('/api/companies/{companyId}/crm/enrollments/{enrollmentId}', {
      params: { path: { companyId, enrollmentId: enrolled.data!.enrollments[0]!.id } },
    });
    expect(enrollment.data).toMatchObject({ sequenceId, to: 'ana@example.org' });
    conforms(shapes.Enrollment, enrollment.data, 'enrollment');
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
