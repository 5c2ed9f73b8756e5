import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { expect } from 'vitest';
import type { TestApp } from './app.js';

/** Sets up a company ready to send email: a secret, an outbox, allowlist entries and rules, over HTTP. */
export async function emailCompany(
  t: TestApp,
  opts: {
    smtpUrl: string;
    dailyCap?: number;
    allow?: string[];
    autoApprove?: boolean;
    companyId?: string;
    timezone?: string;
    limits?: { max: number; per: string; unit?: string }[];
  },
) {
  const companyId = opts.companyId ?? randomUUID();
  const base = `/api/companies/${companyId}/crm`;
  const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'smtp', value: opts.smtpUrl });
  expect(secret.status).toBe(201);
  const outbox = await request(t.app)
    .post(`${base}/outboxes`)
    .send({
      channel: 'email',
      niche: 'renovation',
      secretRef: secret.body.ref,
      config: { fromAddress: 'ops@example.com', fromName: 'Ops' },
      dailyCap: opts.dailyCap ?? 100,
      timezone: opts.timezone ?? 'UTC',
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
  expect(outbox.status).toBe(201);
  for (const pattern of opts.allow ?? ['*@example.org']) {
    expect((await request(t.app).post(`${base}/allowlist`).send({ pattern })).status).toBe(201);
  }
  let ruleId: string | null = null;
  if (opts.autoApprove ?? true) {
    const rule = await request(t.app)
      .post(`${base}/approval-rules`)
      .send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 });
    expect(rule.status).toBe(201);
    ruleId = rule.body.id as string;
  }
  return {
    companyId,
    ruleId,
    base,
    outboxId: outbox.body.id as string,
    secretRef: secret.body.ref as string,
    credentialId: secret.body.id as string,
  };
}

export const email = (to: string, extra: Record<string, unknown> = {}, outboxId = '') => ({
  channel: 'email',
  outboxId,
  to,
  payload: { subject: 'Hello', text: 'A short note.' },
  ...extra,
});
