import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEgressAllow } from '../../src/channels/egress.js';
import { createLogger } from '../../src/logger.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';
import { smtpServer } from '../support/smtp.js';

const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

/** The value of one sample of the exposition text (`name{labels} value`), or null when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return null;
}

describe('metrics, request ids and decision logs (authenticated mode, PGlite)', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let admin: string;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    smtp = await smtpServer();
    t = await startTestApp('pglite', {
      config: { authMode: 'authenticated', metricsToken: METRICS_TOKEN, egressAllow: parseEgressAllow('127.0.0.1/32') },
      logger: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
    });
    admin = await adminToken(t.rt);
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const as = (r: request.Test) => r.set('authorization', `Bearer ${admin}`);

  async function company(dailyCap: number) {
    const companyId = randomUUID();
    const base = `/api/companies/${companyId}/crm`;
    const cred = (await as(request(t.app).post(`${base}/secrets`)).send({ name: 'smtp', value: smtp.url })).body.ref;
    const outbox = await as(request(t.app).post(`${base}/outboxes`)).send({
      channel: 'email',
      secretRef: cred,
      dailyCap,
      config: { fromAddress: 'ops@example.com' },
    });
    expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
    expect((await as(request(t.app).post(`${base}/allowlist`)).send({ pattern: '*@example.org' })).status).toBe(201);
    await as(request(t.app).post(`${base}/approval-rules`)).send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 });
    return { companyId, base, outboxId: outbox.body.id as string, credentialId: cred as string };
  }

  it('counts sends by channel and status, quota use against the cap, requests by route, projection lag', async () => {
    const c = await company(7);
    const send = (to: string) =>
      as(request(t.app).post(`${c.base}/send`)).send({ channel: 'email', outboxId: c.outboxId, to, payload: { subject: 'Hi', text: 'x' } });
    expect((await send('a@example.org')).body.status).toBe('sent');
    expect((await send('b@example.org')).body.status).toBe('sent');
    expect((await send('c@elsewhere.example')).body.status).toBe('blocked_by_allowlist');
    const res = await request(t.app).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    console.log(
      text
        .split('\n')
        .filter((l) => l.startsWith('crm_http_requests_total'))
        .join('\n'),
    );
    expect(sample(text, 'crm_sends_total', { channel: 'email', status: 'sent' })).toBe(2);
    expect(sample(text, 'crm_sends_total', { channel: 'email', status: 'blocked_by_allowlist' })).toBe(1);
    expect(sample(text, 'crm_http_requests_total', { method: 'POST', route: '/api/companies/:companyId/crm/send', status: '200' })).toBe(3);
    expect(
      sample(text, 'crm_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/companies/:companyId/crm/send',
        status: '200',
      }),
    ).toBe(3);
    // The bucket of the outbox's credential: two units of seven.
    const quota = (name: string) => sample(text, name, { company: c.companyId });
    expect(quota('crm_quota_used')).toBe(2);
    expect(quota('crm_quota_cap')).toBe(7);
    expect(sample(text, 'crm_projection_lag_events', { projection: 'activities' })).not.toBeNull();
    expect(sample(text, 'crm_eventstore_append_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample(text, 'crm_sequence_steps_due')).toBe(0);
    // No recipient in any label.
    expect(text).not.toContain('a@example.org');
  });

  it('is refused without the token or an admin: 401 anonymous or a wrong token, 403 a board user not admin', async () => {
    expect((await request(t.app).get('/metrics')).status).toBe(401);
    expect((await request(t.app).get('/metrics').set('authorization', 'Bearer not-the-token-0123456789abc')).status).toBe(401);
    expect((await as(request(t.app).get('/metrics'))).status).toBe(200);
    const board = await as(request(t.app).post('/api/admin/board-tokens')).send({ userId: 'u1', companyIds: [randomUUID()] });
    expect(board.status).toBe(201);
    const res = await request(t.app)
      .get('/metrics')
      .set('authorization', `Bearer ${board.body.token as string}`);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'Instance admin only' });
  });

  it('a send is one info line with its outcome and the request id, which the reply returns', async () => {
    const c = await company(100);
    lines.length = 0;
    const res = await as(request(t.app).post(`${c.base}/send`))
      .set('x-request-id', 'trace-42.a')
      .send({ channel: 'email', outboxId: c.outboxId, to: 'zed@elsewhere.example', payload: { subject: 'Hi', text: 'x' } });
    expect(res.headers['x-request-id']).toBe('trace-42.a');
    const decided = lines.filter((l) => l.msg === 'send decided');
    expect(decided).toEqual([
      expect.objectContaining({
        level: 'info',
        requestId: 'trace-42.a',
        activityId: res.body.id,
        channel: 'email',
        outboxId: c.outboxId,
        status: 'blocked_by_allowlist',
        reason: 'not_allowlisted',
        via: 'send',
      }),
    ]);
    // A retry of the same request is the first send's answer, not a second decision.
    const key = randomUUID();
    const body = {
      channel: 'email',
      outboxId: c.outboxId,
      to: 'kim@example.org',
      payload: { subject: 'Hi', text: 'x' },
      clientDedupKey: key,
    };
    await as(request(t.app).post(`${c.base}/send`)).send(body);
    await as(request(t.app).post(`${c.base}/send`)).send(body);
    expect(lines.filter((l) => l.msg === 'send decided')).toHaveLength(2);
    // An id that could forge a log line is replaced by one of ours.
    const forged = await as(request(t.app).get(`${c.base}/activities`)).set('x-request-id', 'bad id {"level":"error"}');
    expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an approval rule changed and a webhook refused are info lines saying what and why', async () => {
    const c = await company(100);
    lines.length = 0;
    const rule = await as(request(t.app).post(`${c.base}/approval-rules`)).send({
      predicate: { channel: 'linkedin' },
      action: 'queue_for_manual',
      priority: 5,
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'approval rule changed', ruleId: rule.body.id, change: 'created' }),
    );
    const hook = (await as(request(t.app).post(`${c.base}/secrets`)).send({ name: 'hook', value: 'email-hook-key' })).body.ref;
    const outbox = await as(request(t.app).post(`${c.base}/outboxes`)).send({
      channel: 'email',
      secretRef: (await as(request(t.app).post(`${c.base}/secrets`)).send({ name: 'smtp2', value: smtp.url })).body.ref,
      config: { fromAddress: 'ops@example.com', webhook: { secretRef: hook } },
    });
    expect(outbox.status).toBe(201);
    const unsigned = await request(t.app)
      .post(`/api/webhooks/email/${outbox.body.id as string}`)
      .set('content-type', 'application/json')
      .send('{"type":"delivered"}');
    expect(unsigned.status).toBe(401);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'webhook refused', outboxId: outbox.body.id, status: 401, reason: 'bad_signature' }),
    );
  });
});
