import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepDedupKey } from '../../src/domain/enrollment.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { smtpServer } from '../support/smtp.js';
import { emailSignature, postRaw, sign } from '../webhooks/support.js';

const HOOK_SECRET = 'email-hook-key';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/**
 * What else stops, holds or moves an enrollment: a pause and a resume, a deletion, an unsubscribe, a bounce, a
 * quota block, a new version. On PGlite, with the scheduler driven pass by pass on a clock the test moves.
 */
describe('sequence lifecycle on pglite', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let clock = Date.parse('2026-12-07T08:00:00Z');
  beforeAll(async () => {
    smtp = await smtpServer();
    t = await startTestApp('pglite', { now: () => new Date(clock) });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  async function company(dailyCap = 100, limits: { max: number; per: string }[] = []) {
    const companyId = randomUUID();
    const base = `/api/companies/${companyId}/crm`;
    const cred = (await request(t.app).post(`${base}/secrets`).send({ name: 'smtp', value: smtp.url })).body.ref;
    const hook = (await request(t.app).post(`${base}/secrets`).send({ name: 'hook', value: HOOK_SECRET })).body.ref;
    const outbox = await request(t.app)
      .post(`${base}/outboxes`)
      .send({
        channel: 'email',
        secretRef: cred,
        dailyCap,
        limits,
        config: { fromAddress: 'ops@example.com', webhook: { secretRef: hook } },
      });
    expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
    expect((await request(t.app).post(`${base}/allowlist`).send({ pattern: '*@example.org' })).status).toBe(201);
    const rule = await request(t.app)
      .post(`${base}/approval-rules`)
      .send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 });
    expect(rule.status).toBe(201);
    const tag = randomUUID().slice(0, 8);
    return { companyId, base, outboxId: outbox.body.id as string, at: (name: string) => `${name}.${tag}@example.org` };
  }
  type Company = Awaited<ReturnType<typeof company>>;

  const steps = (c: Company, n = 2) =>
    Array.from({ length: n }, (_, i) => ({
      outboxId: c.outboxId,
      payload: { subject: `step ${i + 1}`, text: 'x' },
      waitBefore: i === 0 ? 'PT0S' : 'P1D',
    }));
  async function sequence(c: Company, n = 2) {
    const res = await request(t.app)
      .post(`${c.base}/sequences`)
      .send({ name: 'life', steps: steps(c, n) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }
  async function enroll(c: Company, sequenceId: string, ...names: string[]) {
    const res = await request(t.app)
      .post(`${c.base}/sequences/${sequenceId}/enrollments`)
      .send({ contacts: names.map((n) => ({ to: c.at(n) })) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const ids = (res.body.enrollments as { id: string }[]).map((e) => e.id);
    for (const id of ids) await until(async () => (await request(t.app).get(`${c.base}/enrollments/${id}`)).status === 200);
    return ids;
  }
  async function tick() {
    const r = await t.rt.sequences.runOnce();
    if (r.position) await t.rt.engine.waitFor(r.position, { timeoutMs: 10_000 });
    return r;
  }
  const enrollment = async (c: Company, id: string) => (await request(t.app).get(`${c.base}/enrollments/${id}`)).body;
  const received = (to: string) => smtp.messages.filter((m) => m.to.map((x) => x.toLowerCase()).includes(to)).length;
  async function until(check: () => Promise<boolean>) {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('timed out');
  }
  const status = async (c: Company, id: string, want: string) => {
    await until(async () => (await enrollment(c, id)).status === want);
    return enrollment(c, id);
  };

  it('paused: nothing is sent and enrollments show paused; resumed: the step that came due goes, once', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [e] = await enroll(c, seq, 'ana');
    await tick();
    expect(received(c.at('ana'))).toBe(1);
    expect((await request(t.app).post(`${c.base}/sequences/${seq}/pause`)).body.status).toBe('paused');
    expect((await enrollment(c, e!)).status).toBe('paused');
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('ana'))).toBe(1);
    expect((await request(t.app).post(`${c.base}/sequences/${seq}/resume`)).body.status).toBe('active');
    await tick();
    await tick();
    expect(received(c.at('ana'))).toBe(2);
    expect((await status(c, e!, 'completed')).steps).toHaveLength(2);
  });

  it('deleted: running enrollments stop (sequence_deleted), the sequence is gone, nothing more is sent', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [e] = await enroll(c, seq, 'bea');
    await tick();
    expect((await request(t.app).delete(`${c.base}/sequences/${seq}`)).status).toBe(204);
    expect((await status(c, e!, 'stopped')).stopReason).toBe('sequence_deleted');
    expect((await request(t.app).get(`${c.base}/sequences/${seq}`)).status).toBe(404);
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('bea'))).toBe(1);
  });

  it('an unsubscribe (a suppression of the recipient) stops the enrollment before its next step', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [e] = await enroll(c, seq, 'cem');
    await tick();
    expect(
      (
        await request(t.app)
          .post(`${c.base}/suppressions`)
          .send({ recipient: c.at('cem') })
      ).status,
    ).toBe(201);
    await tick();
    expect((await status(c, e!, 'stopped')).stopReason).toBe('unsubscribe');
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('cem'))).toBe(1);
  });

  it('a bounce of a step stops the enrollment (bounce); a manual stop of another is recorded as manual', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [dee, eve] = await enroll(c, seq, 'dee', 'eve');
    await tick();
    const first = (await enrollment(c, dee!)).steps[0];
    const messageId = (await request(t.app).get(`${c.base}/activities/${first.activityId}`)).body.providerMessageId as string;
    const body = JSON.stringify({
      type: 'bounce',
      messageId,
      recipient: c.at('dee'),
      at: new Date(clock).toISOString(),
      bounceType: 'soft',
    });
    expect((await postRaw(t, `/api/webhooks/email/${c.outboxId}`, body, emailSignature(HOOK_SECRET, body, new Date(clock)))).status).toBe(
      200,
    );
    await tick();
    expect((await status(c, dee!, 'stopped')).stopReason).toBe('bounce');
    const stopped = await request(t.app).post(`${c.base}/enrollments/${eve}/stop`);
    expect(stopped.body).toMatchObject({ status: 'stopped', stopReason: 'manual' });
    const history = (await request(t.app).get(`${c.base}/enrollments/${eve}/history`)).body.events.map((x: { type: string }) => x.type);
    expect(history).toEqual(['EnrollmentStarted', 'EnrollmentStepSent', 'EnrollmentStopped']);
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('dee')) + received(c.at('eve'))).toBe(2);
  });

  it('blocked by the quota: retried on the next local day, not skipped and not stopped', async () => {
    const c = await company(1);
    const seq = await sequence(c, 1);
    const [fay, gus] = await enroll(c, seq, 'fay', 'gus');
    await tick();
    // One unit a day: one of the two went, the other waits for tomorrow.
    const states = [await enrollment(c, fay!), await enrollment(c, gus!)];
    const blocked = states.find((s) => s.status === 'active')!;
    expect(states.map((s) => s.status).sort()).toEqual(['active', 'completed']);
    expect(blocked.steps).toEqual([expect.objectContaining({ index: 0, status: 'blocked_by_quota' })]);
    const today = new Date(clock);
    const tomorrow = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1));
    expect(new Date(blocked.nextDueAt).toISOString()).toBe(tomorrow.toISOString());
    clock += DAY;
    await tick();
    expect((await status(c, blocked.id, 'completed')).steps.map((s: { status: string }) => s.status)).toEqual(['blocked_by_quota', 'sent']);
    expect(received(c.at('fay')) + received(c.at('gus'))).toBe(2);
  });

  it('blocked by a limit other than the day: waits until that limit reopens (retryAt), not until tomorrow', async () => {
    const c = await company(100, [{ max: 1, per: 'hour' }]);
    const seq = await sequence(c, 1);
    const [hal, ivy] = await enroll(c, seq, 'hal', 'ivy');
    await tick();
    const states = [await enrollment(c, hal!), await enrollment(c, ivy!)];
    const blocked = states.find((s) => s.status === 'active')!;
    expect(states.map((s) => s.status).sort()).toEqual(['active', 'completed']);
    const nextHour = new Date(Math.floor(clock / HOUR) * HOUR + HOUR);
    expect(new Date(blocked.nextDueAt).toISOString()).toBe(nextHour.toISOString());
    // A minute before it: still held back (the scheduler does not try it early).
    clock = nextHour.getTime() - 60_000;
    await tick();
    expect(received(c.at('hal')) + received(c.at('ivy'))).toBe(1);
    clock = nextHour.getTime();
    await tick();
    expect((await status(c, blocked.id, 'completed')).steps.map((s: { status: string }) => s.status)).toEqual(['blocked_by_quota', 'sent']);
    expect(received(c.at('hal')) + received(c.at('ivy'))).toBe(2);
  });

  it('a recipient outside the allowlist may be enrolled: its step is blocked and the enrollment stops with the reason', async () => {
    const c = await company();
    const seq = await sequence(c);
    const res = await request(t.app)
      .post(`${c.base}/sequences/${seq}/enrollments`)
      .send({ contacts: [{ to: 'zed@elsewhere.example' }] });
    expect(res.status).toBe(201);
    const id = res.body.enrollments[0].id as string;
    await until(async () => (await request(t.app).get(`${c.base}/enrollments/${id}`)).status === 200);
    await tick();
    const e = await status(c, id, 'stopped');
    expect(e).toMatchObject({
      stopReason: 'not_allowlisted',
      steps: [expect.objectContaining({ index: 0, status: 'blocked_by_allowlist' })],
    });
    expect(received('zed@elsewhere.example')).toBe(0);
  });

  it('a recipient is enrolled once: a repeat of the call after the enrollment ended sends nothing again', async () => {
    const c = await company();
    const seq = await sequence(c, 1);
    const [first] = await enroll(c, seq, 'jo');
    await tick();
    await status(c, first!, 'completed');
    const again = await request(t.app)
      .post(`${c.base}/sequences/${seq}/enrollments`)
      .send({ contacts: [{ to: c.at('jo') }] });
    expect(again.body.enrollments).toEqual([{ id: first, to: c.at('jo'), status: 'already_enrolled' }]);
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('jo'))).toBe(1);
  });

  it('a client that sends under the key a step will use cannot take the step: the step is sent as its own', async () => {
    const c = await company();
    const seq = await sequence(c, 1);
    const res = await request(t.app)
      .post(`${c.base}/sequences/${seq}/enrollments`)
      .send({ contacts: [{ to: c.at('kit') }] });
    const id = res.body.enrollments[0].id as string;
    // The key is predictable from the enrollment id; a client's use of it names another activity.
    const squatter = await request(t.app)
      .post(`${c.base}/send`)
      .send({
        channel: 'email',
        outboxId: c.outboxId,
        to: c.at('kit'),
        payload: { subject: 'not the step', text: 'x' },
        clientDedupKey: stepDedupKey(id, 1, 0, 0),
      });
    expect(squatter.body.status).toBe('sent');
    await until(async () => (await request(t.app).get(`${c.base}/enrollments/${id}`)).status === 200);
    await tick();
    const e = await status(c, id, 'completed');
    expect(e.steps[0].activityId).not.toBe(squatter.body.id);
    expect(received(c.at('kit'))).toBe(2);
  });

  it('a step found due outside the sending hours (after a pause) waits for them instead of going at night', async () => {
    const c = await company();
    const created = await request(t.app)
      .post(`${c.base}/sequences`)
      .send({
        name: 'hours',
        steps: steps(c, 1),
        sendWindow: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00', tz: 'UTC' },
      });
    expect(created.status).toBe(201);
    const seq = created.body.id as string;
    // Monday 10:00 UTC: inside the hours; paused before the scheduler passes, resumed at 22:00.
    const monday = new Date(clock);
    monday.setUTCDate(monday.getUTCDate() + ((8 - monday.getUTCDay()) % 7 || 7));
    clock = Date.UTC(monday.getUTCFullYear(), monday.getUTCMonth(), monday.getUTCDate(), 10);
    expect((await request(t.app).post(`${c.base}/sequences/${seq}/pause`)).status).toBe(200);
    const [id] = await enroll(c, seq, 'lou');
    clock += 12 * HOUR;
    expect((await request(t.app).post(`${c.base}/sequences/${seq}/resume`)).status).toBe(200);
    await tick();
    expect(received(c.at('lou'))).toBe(0);
    const waiting = await enrollment(c, id!);
    expect(new Date(waiting.nextDueAt).toISOString()).toBe(new Date(clock + 11 * HOUR).toISOString());
    clock += 11 * HOUR;
    await tick();
    expect(received(c.at('lou'))).toBe(1);
  });

  it('a new version of the steps: running enrollments finish on theirs, new ones run the new one', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [old] = await enroll(c, seq, 'hal');
    await tick();
    const patched = await request(t.app)
      .patch(`${c.base}/sequences/${seq}`)
      .send({ steps: [{ outboxId: c.outboxId, payload: { subject: 'only step of v2', text: 'x' }, waitBefore: 'PT0S' }] });
    expect(patched.body).toMatchObject({ version: 2 });
    const [fresh] = await enroll(c, seq, 'ivy');
    await tick();
    clock += 2 * DAY;
    await tick();
    expect((await status(c, old!, 'completed')).version).toBe(1);
    expect((await status(c, fresh!, 'completed')).version).toBe(2);
    const subjects = (to: string) => smtp.messages.filter((m) => m.to.includes(to)).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1]);
    expect(subjects(c.at('hal'))).toEqual(['step 1', 'step 2']);
    expect(subjects(c.at('ivy'))).toEqual(['only step of v2']);
  });

  const postEmailHook = (c: Company, body: object) => {
    const raw = JSON.stringify(body);
    return postRaw(t, `/api/webhooks/email/${c.outboxId}`, raw, emailSignature(HOOK_SECRET, raw, new Date(clock)));
  };

  it('a reply that answers none of the steps (a manual message sent since) stops the enrollment too', async () => {
    const c = await company();
    const seq = await sequence(c);
    const [e] = await enroll(c, seq, 'jon');
    await tick();
    const manual = await request(t.app)
      .post(`${c.base}/send`)
      .send({ channel: 'email', outboxId: c.outboxId, to: c.at('jon'), payload: { subject: 'A personal note', text: 'x' } });
    expect(manual.body.status).toBe('sent');
    const messageId = (await request(t.app).get(`${c.base}/activities/${manual.body.id}`)).body.providerMessageId as string;
    clock += HOUR;
    const hook = await postEmailHook(c, { type: 'reply', inReplyTo: messageId, from: c.at('jon'), at: new Date(clock).toISOString() });
    expect(hook.status).toBe(200);
    await tick();
    expect((await status(c, e!, 'stopped')).stopReason).toBe('reply');
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('jon'))).toBe(2); // step 1 and the manual message: no step 2
  });

  it('a message the person sent before they were enrolled stops nothing', async () => {
    const c = await company();
    const seq = await sequence(c);
    const earlier = new Date(clock - HOUR).toISOString();
    expect(
      (await postEmailHook(c, { type: 'reply', inReplyTo: '<unknown@elsewhere>', from: c.at('kai'), at: earlier, id: randomUUID() }))
        .status,
    ).toBe(200);
    const [e] = await enroll(c, seq, 'kai');
    await tick();
    clock += 2 * DAY;
    await tick();
    expect((await status(c, e!, 'completed')).steps).toHaveLength(2);
  });

  it('a cal.com booking the person made themselves (no send of ours) stops the enrollment (booking)', async () => {
    const c = await company();
    const calKey = (await request(t.app).post(`${c.base}/secrets`).send({ name: 'cal', value: 'cal_live_key' })).body.ref;
    const calHook = (await request(t.app).post(`${c.base}/secrets`).send({ name: 'cal-hook', value: 'cal-hook-secret' })).body.ref;
    const cal = await request(t.app)
      .post(`${c.base}/outboxes`)
      .send({ channel: 'cal-com', secretRef: calKey, config: { eventTypeId: 42, webhook: { secretRef: calHook } } });
    expect(cal.status, JSON.stringify(cal.body)).toBe(201);
    const seq = await sequence(c);
    const [e] = await enroll(c, seq, 'lia');
    await tick();
    clock += HOUR;
    // As cal.com posts it: triggerEvent, createdAt, payload with the booking's uid and attendees
    // (cal.com docs, Webhooks: "BOOKING_CREATED" payload; the uid is cal.com's own, unknown to us).
    const body = JSON.stringify({
      triggerEvent: 'BOOKING_CREATED',
      createdAt: new Date(clock).toISOString(),
      payload: { uid: `own-${randomUUID()}`, attendees: [{ email: c.at('lia') }] },
    });
    const hex = sign('cal-hook-secret', body).slice('sha256='.length);
    expect((await postRaw(t, `/api/webhooks/cal-com/${cal.body.id}`, body, { 'x-cal-signature-256': hex })).status).toBe(200);
    await tick();
    expect((await status(c, e!, 'stopped')).stopReason).toBe('booking');
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('lia'))).toBe(1);
  });

  it('a suppression on another channel than the step’s stops nothing; one on the step’s channel stops it', async () => {
    const c = await company();
    const seq = await sequence(c, 3);
    const [e] = await enroll(c, seq, 'max');
    await tick();
    expect(
      (
        await request(t.app)
          .post(`${c.base}/suppressions`)
          .send({ recipient: c.at('max'), channel: 'cal-com' })
      ).status,
    ).toBe(201);
    clock += 2 * DAY;
    await tick();
    await tick();
    expect(received(c.at('max'))).toBe(2);
    expect((await enrollment(c, e!)).status).toBe('active');
    expect(
      (
        await request(t.app)
          .post(`${c.base}/suppressions`)
          .send({ recipient: c.at('max'), channel: 'email' })
      ).status,
    ).toBe(201);
    await tick();
    expect((await status(c, e!, 'stopped')).stopReason).toBe('unsubscribe');
    clock += 2 * DAY;
    await tick();
    expect(received(c.at('max'))).toBe(2);
  });
});
