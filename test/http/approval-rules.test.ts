import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';

describe('approval rules over HTTP: a match-everything rule must be explicit', () => {
  let t: TestApp;
  const base = `/api/companies/${randomUUID()}/crm/approval-rules`;
  beforeAll(async () => {
    t = await startTestApp('pglite');
  });
  afterAll(() => t?.close());

  it('refuses a rule without a predicate, or with an empty one, and stores nothing', async () => {
    for (const body of [
      { action: 'auto_approve' },
      { predicate: {}, action: 'auto_approve' },
      { predicate: { tags: [] }, action: 'auto_approve' },
      { predicate: { any: false }, action: 'auto_approve' },
    ]) {
      const res = await request(t.app).post(base).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toEqual(expect.any(String));
    }
    // The route's schema says so before the decider does: which field, in the validation details.
    const missing = await request(t.app).post(base).send({ action: 'auto_approve' });
    expect(missing.body).toMatchObject({ error: 'Validation failed', details: [expect.objectContaining({ path: ['predicate'] })] });
    expect((await request(t.app).get(base)).body.items).toEqual([]);
  });

  it('takes {"any": true} and shows it back; refuses any with other fields', async () => {
    const res = await request(t.app)
      .post(base)
      .send({ predicate: { any: true }, action: 'queue_for_manual' });
    expect(res.status).toBe(201);
    expect(res.body.predicate).toEqual({ any: true });
    expect(
      (
        await request(t.app)
          .post(base)
          .send({ predicate: { any: true, channel: 'email' }, action: 'auto_approve' })
      ).status,
    ).toBe(400);
  });

  it('refuses a PATCH to an empty predicate, leaving the rule as it was', async () => {
    const created = await request(t.app)
      .post(base)
      .send({ predicate: { channel: 'email' }, action: 'auto_approve' });
    expect(created.status).toBe(201);
    const res = await request(t.app).patch(`${base}/${created.body.id}`).send({ predicate: {} });
    expect(res.status).toBe(400);
    const items = (await request(t.app).get(base)).body.items as { id: string; predicate: unknown }[];
    expect(items.find((r) => r.id === created.body.id)?.predicate).toEqual({ channel: 'email' });
  });
});
