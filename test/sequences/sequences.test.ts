import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, startTestApp } from '../support/app.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { smtpServer } from '../support/smtp.js';
import { emailSignature, postRaw } from '../webhooks/support.js';

const HOOK_SECRET = 'email-hook-key';
const HOUR = 3600_000;

/**
 * Sequences end to end: steps sent through the dispatcher to the in-process SMTP server by the scheduler, driven
 * pass by pass (`rt.sequences.runOnce()`) on a clock the test moves.
 */
function suite(backend: 'pglite' | 'postgres') {
  describe(`sequences on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    // A Monday, 08:00 UTC.
    let clock = Date.parse('2026-12-07T08:00:00Z');
    beforeAll(async () => {
      smtp = await smtpServer();
      t = await startTestApp(backend, { now: () => new Date(clock) });
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
    });

    async function company(opts: { autoApprove?: boolean; allow?: string } = {}) {
      const companyId = randomUUID();
      const base = `/api/companies/${companyId}/crm`;
      const cred = (await request(t.app).post(`${base}/secrets`).send({ name: 'smtp', value: smtp.url })).body.ref;
      const hook = (await request(t.app).post(`${base}/secrets`).send({ name: 'hook', value: HOOK_SECRET })).body.ref;
      const outbox = await request(t.app)
        .post(`${base}/outboxes`)
        .send({ channel: 'email', secretRef: cred, config: { fromAddress: 'ops@example.com', webhook: { secretRef: hook } } });
      expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
      expect(
        (
          await request(t.app)
            .post(`${base}/allowlist`)
            .send({ pattern: opts.allow ?? '*@example.org' })
        ).status,
      ).toBe(201);
      if (opts.autoApprove !== false) {
        const rule = await request(t.app)
          .post(`${base}/approval-rules`)
          .send({ predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 });
        expect(rule.status).toBe(201);
      }
      return { companyId, base, outboxId: outbox.body.id as string };
    }
    type Company = Awaited<ReturnType<typeof company>>;

    const twoSteps = (outboxId: string, extra: Record<string, unknown> = {}) => ({
      name: 'Intro',
      steps: [
        { outboxId, payload: { subject: 'Hi {{firstName}}', text: 'About {{company}}' }, waitBefore: 'PT0S' },
        { outboxId, payload: { subject: 'Following up, {{firstName}}', text: 'Any thoughts?' }, waitBefore: 'P2D' },
      ],
      ...extra,
    });

    async function sequence(c: Company, body: Record<string, unknown>) {
      const res = await request(t.app).post(`${c.base}/sequences`).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    }

    async function enroll(c: Company, sequenceId: string, contacts: unknown[]) {
      const res = await request(t.app).post(`${c.base}/sequences/${sequenceId}/enrollments`).send({ contacts });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.enrollments as { id: string; to: string; status: string }[];
    }

    /** Runs the scheduler and waits until the read models have what it wrote. */
    async function tick() {
      const r = await t.rt.sequences.runOnce();
      if (r.position) await t.rt.engine.waitFor(r.position, { timeoutMs: 10_000 });
      return r;
    }
    const settle = () => tick();
    const enrollment = async (c: Company, id: string) => (await request(t.app).get(`${c.base}/enrollments/${id}`)).body;
    const subjects = (to: string) =>
      smtp.messages.filter((m) => m.to.map((x) => x.toLowerCase()).includes(to)).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1]);

    /** Recipients of this test only: the SMTP server's log is shared by the suite. */
    const tagged = () => {
      const tag = randomUUID().slice(0, 8);
      return (name: string) => `${name}.${tag}@example.org`;
    };

    it('3 contacts x 2 steps: 6 messages with rendered subjects, the second step two days after the first', async () => {
      const c = await company();
      const id = await sequence(c, twoSteps(c.outboxId));
      const at = tagged();
      const people = ['ana', 'bea', 'cem'].map((n) => ({ to: at(n), variables: { firstName: n.toUpperCase(), company: 'Acme & Co' } }));
      const enrolled = await enroll(c, id, people);
      expect(enrolled.map((e) => e.status)).toEqual(['enrolled', 'enrolled', 'enrolled']);
      await waitProjected(c, enrolled.at(-1)!.id);
      await settle();
      for (const p of people) expect(subjects(p.to)).toEqual([`Hi ${p.variables.firstName}`]);
      // Not yet due: nothing more.
      clock += 47 * HOUR;
      await settle();
      expect(subjects(at('ana'))).toHaveLength(1);
      clock += 2 * HOUR;
      await settle();
      for (const p of people) expect(subjects(p.to)).toEqual([`Hi ${p.variables.firstName}`, `Following up, ${p.variables.firstName}`]);
      // The template's `&` is not escaped outside html fields.
      expect(smtp.messages.some((m) => m.raw.includes('About Acme & Co'))).toBe(true);
      // Done: more passes send nothing.
      clock += 10 * 24 * HOUR;
      await settle();
      expect(subjects(at('ana'))).toHaveLength(2);
      const e = await waitStatus(c, enrolled[0]!.id, 'completed');
      expect(e.steps.map((s: { index: number; status: string }) => [s.index, s.status])).toEqual([
        [0, 'sent'],
        [1, 'sent'],
      ]);
    });

    it('a reply after step 1 stops the enrollment: no step 2 for that contact, the others go on', async () => {
      const c = await company();
      const id = await sequence(c, twoSteps(c.outboxId));
      const at = tagged();
      const [ana, bea] = await enroll(c, id, [
        { to: at('ana'), variables: { firstName: 'Ana', company: 'A' } },
        { to: at('bea'), variables: { firstName: 'Bea', company: 'B' } },
      ]);
      await waitProjected(c, bea!.id);
      await settle();
      const first = (await enrollment(c, ana!.id)).steps[0];
      const messageId = (await request(t.app).get(`${c.base}/activities/${first.activityId}`)).body.providerMessageId as string;
      const body = JSON.stringify({
        type: 'reply',
        inReplyTo: messageId,
        from: at('ana'),
        at: new Date(clock).toISOString(),
        text: 'Not interested',
      });
      const res = await postRaw(t, `/api/webhooks/email/${c.outboxId}`, body, emailSignature(HOOK_SECRET, body, new Date(clock)));
      expect(res.status).toBe(200);
      await settle();
      expect((await waitStatus(c, ana!.id, 'stopped')).stopReason).toBe('reply');
      clock += 3 * 24 * HOUR;
      await settle();
      await settle();
      expect(subjects(at('ana'))).toEqual(['Hi Ana']);
      expect(subjects(at('bea'))).toEqual(['Hi Bea', 'Following up, Bea']);
      const stats = (await request(t.app).get(`${c.base}/sequences/${id}/stats`)).body;
      expect(stats).toEqual({
        enrolled: 2,
        active: 0,
        completed: 1,
        stopped: { reply: 1 },
        steps: [
          { index: 0, sent: 2, pendingApproval: 0, blocked: 0, failed: 0, replied: 1 },
          { index: 1, sent: 1, pendingApproval: 0, blocked: 0, failed: 0, replied: 0 },
        ],
      });
    });

    it('an approval rule that queues step 2: it waits, is approved, goes', async () => {
      const c = await company({ autoApprove: false });
      // Step 1 auto-approved by its tag, step 2 waits for a person.
      const rule = await request(t.app)
        .post(`${c.base}/approval-rules`)
        .send({ predicate: { tags: ['intro'] }, action: 'auto_approve', priority: 1 });
      expect(rule.status).toBe(201);
      const seq = twoSteps(c.outboxId);
      (seq.steps[0] as Record<string, unknown>).tags = ['intro'];
      const id = await sequence(c, seq);
      const at = tagged();
      const [ana] = await enroll(c, id, [{ to: at('ana'), variables: { firstName: 'Ana', company: 'A' } }]);
      await waitProjected(c, ana!.id);
      await settle();
      clock += 2 * 24 * HOUR + HOUR;
      await settle();
      const waiting = await waitStatus(c, ana!.id, 'waiting_approval');
      expect(subjects(at('ana'))).toEqual(['Hi Ana']);
      const pending = (await request(t.app).get(`${c.base}/approvals`).query({ status: 'pending' })).body.items as {
        id: string;
        activityId: string;
      }[];
      const approval = pending.find((a) => a.activityId === waiting.steps[1]!.activityId)!;
      expect(
        (
          await request(t.app)
            .post(`${c.base}/approvals/bulk-approve`)
            .send({ approvalIds: [approval.id] })
        ).status,
      ).toBe(200);
      expect(subjects(at('ana'))).toEqual(['Hi Ana', 'Following up, Ana']);
      await settle();
      expect((await waitStatus(c, ana!.id, 'completed')).steps.map((s: { status: string }) => s.status)).toEqual(['sent', 'sent']);
    });

    it('enrolling a recipient twice answers already_enrolled; a missing variable is a 400 and enrolls nobody', async () => {
      const c = await company();
      const id = await sequence(c, twoSteps(c.outboxId));
      const [first] = await enroll(c, id, [{ to: 'ana@example.org', variables: { firstName: 'Ana', company: 'A' } }]);
      const again = await enroll(c, id, [{ to: 'ANA@example.org', variables: { firstName: 'Ana', company: 'A' } }]);
      expect(again).toEqual([{ id: first!.id, to: 'ana@example.org', status: 'already_enrolled' }]);
      const bad = await request(t.app)
        .post(`${c.base}/sequences/${id}/enrollments`)
        .send({
          contacts: [
            { to: 'bea@example.org', variables: { firstName: 'Bea', company: 'B' } },
            { to: 'cem@example.org', variables: { firstName: 'Cem' } },
          ],
        });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/contacts\[1\].*company/);
      await waitProjected(c, first!.id);
      const list = (await request(t.app).get(`${c.base}/sequences/${id}/enrollments`)).body.items as { to: string }[];
      expect(list.map((e) => e.to)).toEqual(['ana@example.org']);
    });

    it('bad definitions are a 400 and store nothing', async () => {
      const c = await company();
      const other = await company();
      const step = { outboxId: c.outboxId, payload: { subject: 's', text: 't' }, waitBefore: 'PT0S' };
      const bodies = [
        { name: 'x', steps: [] },
        { name: 'x', steps: Array.from({ length: 21 }, () => step) },
        { name: 'x', steps: [{ ...step, waitBefore: '2 days' }] },
        { name: 'x', steps: [{ ...step, waitBefore: 'P1M' }] },
        { name: 'x', steps: [{ ...step, outboxId: randomUUID() }] },
        { name: 'x', steps: [{ ...step, outboxId: other.outboxId }] },
        { name: 'x', steps: [step], sendWindow: { days: ['mon'], start: '17:00', end: '09:00' } },
        { name: 'x', steps: [step], sendWindow: { days: ['mon'], start: '09:00', end: '17:00', tz: 'Mars/Olympus' } },
        { name: 'x', steps: [step], unknown: true },
        { name: 'x', steps: [{ ...step, payload: { subject: 'Hi {{firstName', text: 't' } }] },
        { name: 'x', steps: [{ ...step, payload: { subject: '{{#vip}}Hi', text: 't' } }] },
        { name: 'x', steps: [{ ...step, payload: { text: 'no subject' } }] },
        { name: 'x', steps: [{ ...step, contentPieceId: randomUUID() }] },
      ];
      for (const body of bodies) {
        const res = await request(t.app).post(`${c.base}/sequences`).send(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toBeDefined();
      }
      expect((await request(t.app).get(`${c.base}/sequences`)).body.items).toEqual([]);
      const id = await sequence(c, twoSteps(c.outboxId));
      for (const contacts of [[], Array.from({ length: 1001 }, (_, i) => ({ to: `p${i}@example.org` }))]) {
        expect((await request(t.app).post(`${c.base}/sequences/${id}/enrollments`).send({ contacts })).status).toBe(400);
      }
    });

    async function waitProjected(c: Company, enrollmentId: string) {
      for (let i = 0; i < 100; i++) {
        if ((await request(t.app).get(`${c.base}/enrollments/${enrollmentId}`)).status === 200) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('enrollment not projected');
    }
    async function waitStatus(c: Company, enrollmentId: string, status: string) {
      let e: Record<string, unknown> & { steps: { index: number; status: string; activityId: string }[] } = { steps: [] };
      for (let i = 0; i < 100; i++) {
        e = await enrollment(c, enrollmentId);
        if (e.status === status) return e;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`enrollment is ${String(e.status)}, not ${status}: ${JSON.stringify(e)}`);
    }
  });
}

suite('pglite');
if (TEST_DATABASE_URL) suite('postgres');
else describe.skip(`sequences on postgres (${POSTGRES_SKIP_REASON})`, () => {});
