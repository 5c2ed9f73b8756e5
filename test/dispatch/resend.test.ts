import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailAdapter } from '../../src/channels/email.js';
import { type ChannelAdapter, ChannelError } from '../../src/channels/port.js';
import { issueAgentKey, issueBoardToken } from '../../src/commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { activityStream, resendActivityId } from '../../src/domain/activity.js';
import type { DomainError } from '../../src/domain/decider.js';
import { localDay } from '../../src/domain/time-window.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, adminToken, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';

const LEASE_MS = 60_000;

function suite(backend: 'pglite' | 'postgres') {
  describe(`resending a send whose outcome is unknown, on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    // Moved past the lease to let the reconciler settle a hung dispatch; fixed, so that no test crosses midnight.
    let clock = Date.parse('2031-03-04T09:00:00.000Z');
    /** The app as the instance admin, for set-up and reads (the service runs authenticated, so agents can be told apart). */
    let asAdmin: TestApp;

    // The real email adapter, except that the next send may hang (its process died mid-send: nothing reached the
    // server) or fail with a chosen error.
    const trap: { next: 'hang' | ChannelError | null; hung: { activityId: string; release: () => void }[] } = { next: null, hung: [] };
    const trappedEmail: ChannelAdapter = {
      async send(outbox, credential, message) {
        const next = trap.next;
        trap.next = null;
        if (next === 'hang') {
          await new Promise<void>((_resolve, reject) =>
            trap.hung.push({
              activityId: message.activityId,
              release: () => reject(new ChannelError('smtp_outcome_unknown', 'released by the test', false, false)),
            }),
          );
        }
        if (next instanceof ChannelError) throw next;
        return emailAdapter.send(outbox, credential, message);
      },
    };

    beforeAll(async () => {
      smtp = await smtpServer();
      t = await startTestApp(backend, {
        config: { authMode: 'authenticated', dispatchLeaseMs: LEASE_MS },
        now: () => new Date(clock),
        adapters: { email: trappedEmail },
      });
      const admin = await adminToken(t.rt);
      const app = express();
      app.use((req, _res, next) => {
        req.headers.authorization ??= `Bearer ${admin}`;
        next();
      });
      app.use(t.app);
      asAdmin = { ...t, app };
    });
    afterAll(async () => {
      for (const h of trap.hung) h.release();
      await t?.close();
      await smtp?.close();
    });

    const day = () => localDay(new Date(clock), 'UTC');
    const history = async (c: { base: string }, id: string) =>
      (await request(asAdmin.app).get(`${c.base}/activities/${id}/history`)).body.events as {
        type: string;
        data: Record<string, unknown>;
        actor: unknown;
      }[];
    const caughtUp = async (id: string) => t.rt.engine.waitFor((await t.rt.store.readStream(activityStream(id))).at(-1)!.position);
    const resend = (c: { base: string }, id: string, token?: string) => {
      const r = request(token ? t.app : asAdmin.app).post(`${c.base}/activities/${id}/resend`);
      return token ? r.set('authorization', `Bearer ${token}`) : r;
    };
    async function boardToken(userId: string, companyIds: string[]) {
      const issued = await issueBoardToken(
        t.rt.store,
        { userId, instanceAdmin: false, companyIds, ttlDays: 0 },
        LOCAL_OPERATOR,
        t.rt.now(),
      );
      await t.rt.engine.waitFor(issued.position!);
      return issued.token;
    }

    /**
     * A send cut short between its quota unit and its outcome, as by a crash: the adapter hangs, the clock passes
     * the lease, the reconciler settles it as dispatch_interrupted. Released afterwards, its late answer changes
     * nothing (checked).
     */
    async function interruptedSend(c: { base: string; outboxId: string }, to: string, extra: Record<string, unknown> = {}) {
      trap.next = 'hang';
      const body = email(to, extra, c.outboxId);
      const reply = request(asAdmin.app)
        .post(`${c.base}/send`)
        .send(body)
        .then((r) => r);
      for (let i = 0; trap.hung.length === 0; i++) {
        if (i > 500) throw new Error('the send never reached the adapter');
        await new Promise((r) => setTimeout(r, 10));
      }
      const { activityId, release } = trap.hung.shift()!;
      await caughtUp(activityId);
      clock += LEASE_MS + 1000;
      expect(await t.rt.reconciler.runOnce()).toBe(1);
      release();
      await reply;
      await caughtUp(activityId);
      expect((await history(c, activityId)).at(-1)).toMatchObject({
        type: 'ActivityFailed',
        data: { error: { code: 'dispatch_interrupted' }, quotaRefunded: false },
      });
      return { activityId, body };
    }

    it('resends an interrupted send once, as a new activity linked both ways; its dedup key then answers the resend', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const ana = await boardToken('ana', [c.companyId]);
      const { activityId, body } = await interruptedSend(c, 'ana@example.org', {
        clientDedupKey: 'q3-ana',
        payload: { subject: 'Q3', text: 'Hi Ana' },
      });
      // What the issue is about: until a person decides, the key answers `failed` forever.
      expect((await request(asAdmin.app).post(`${c.base}/send`).send(body)).body).toMatchObject({
        id: activityId,
        status: 'failed',
        error: { code: 'dispatch_interrupted' },
      });
      const before = smtp.messages.length;
      const decidedAt = new Date(clock).toISOString();

      const res = await resend(c, activityId, ana);
      const resentAs = resendActivityId(activityId);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: resentAs, status: 'sent', resendOf: activityId });
      expect(res.headers['x-crm-position']).toMatch(/^\d+\.\d+$/);
      expect(smtp.messages.length).toBe(before + 1);
      expect(smtp.messages.at(-1)!.to).toEqual(['ana@example.org']);
      expect(smtp.messages.at(-1)!.raw).toContain('Subject: Q3');
      expect(smtp.messages.at(-1)!.raw).toMatch(new RegExp(`X-CRM-Activity-Id: ${resentAs}`, 'i'));

      // Read right after the reply: the write is in the read models.
      const original = (await request(asAdmin.app).get(`${c.base}/activities/${activityId}`)).body;
      expect(original).toMatchObject({
        id: activityId,
        status: 'failed',
        error: { code: 'dispatch_interrupted' },
        clientDedupKey: 'q3-ana',
        resendOf: null,
        resentAs,
      });
      const copy = (await request(asAdmin.app).get(`${c.base}/activities/${resentAs}`)).body;
      expect(copy).toMatchObject({
        id: resentAs,
        status: 'sent',
        channel: 'email',
        outboxId: c.outboxId,
        to: 'ana@example.org',
        clientDedupKey: null,
        resendOf: activityId,
        resentAs: null,
      });

      const originalEvents = await history(c, activityId);
      expect(originalEvents.at(-1)).toEqual(
        expect.objectContaining({
          type: 'ActivityResendDecided',
          data: { activityId, resentAs, by: 'board:ana', at: decidedAt },
          actor: { type: 'board', id: 'ana' },
        }),
      );
      const copyEvents = await history(c, resentAs);
      expect(copyEvents.map((e) => e.type)).toEqual(['ActivityRequested', 'ActivityDispatching', 'ActivitySent']);
      expect(copyEvents[0]!.data).toMatchObject({
        activityId: resentAs,
        resendOf: activityId,
        clientDedupKey: null,
        requestedBy: 'board:ana',
        to: 'ana@example.org',
        payload: { subject: 'Q3', text: 'Hi Ana' },
      });

      const repeat = await request(asAdmin.app).post(`${c.base}/send`).send(body);
      expect(repeat.status).toBe(200);
      expect(repeat.body).toEqual({ id: resentAs, status: 'sent', resendOf: activityId });
      expect(smtp.messages.length).toBe(before + 1);

      const again = await resend(c, activityId, ana);
      expect(again.status).toBe(409);
      expect(again.body).toEqual({ error: 'this activity was already resent', details: { activityId, resentAs } });
      // The resend's outcome is known (sent): it cannot be resent in turn.
      expect((await resend(c, resentAs, ana)).status).toBe(422);
      expect(smtp.messages.length).toBe(before + 1);
      // The interrupted send's unit is kept (the message may have gone); the resend took one of its own.
      expect((await request(asAdmin.app).get(`${c.base}/credential-buckets`).query({ day: day() })).body.items).toEqual([
        expect.objectContaining({ used: 2 }),
      ]);
    });

    it('resends a send the SMTP server went silent on (smtp_outcome_unknown)', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      trap.next = new ChannelError('smtp_outcome_unknown', 'the connection was lost during DATA', false, false);
      const first = await request(asAdmin.app)
        .post(`${c.base}/send`)
        .send(email('bo@example.org', {}, c.outboxId));
      expect(first.body).toMatchObject({ status: 'failed', error: { code: 'smtp_outcome_unknown' } });
      const before = smtp.messages.length;
      const res = await resend(c, first.body.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: resendActivityId(first.body.id), status: 'sent', resendOf: first.body.id });
      expect(smtp.messages.length).toBe(before + 1);
    });

    it('refuses a send whose outcome is known (422) and writes nothing', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url, allow: ['*@example.org'] });
      const sent = (
        await request(asAdmin.app)
          .post(`${c.base}/send`)
          .send(email('sent@example.org', {}, c.outboxId))
      ).body;
      const blocked = (
        await request(asAdmin.app)
          .post(`${c.base}/send`)
          .send(email('x@elsewhere.example', {}, c.outboxId))
      ).body;
      trap.next = new ChannelError('smtp_unreachable', 'the SMTP server could not be reached', true);
      const unreachable = (
        await request(asAdmin.app)
          .post(`${c.base}/send`)
          .send(email('u@example.org', {}, c.outboxId))
      ).body;
      expect([sent.status, blocked.status, unreachable.status]).toEqual(['sent', 'blocked_by_allowlist', 'failed']);
      const before = smtp.messages.length;
      for (const a of [sent, blocked, unreachable]) {
        const events = await history(c, a.id);
        const res = await resend(c, a.id);
        expect(res.status, a.status).toBe(422);
        expect(res.body.error).toMatch(/cannot DecideResend|only a send whose outcome is unknown/);
        expect(await history(c, a.id)).toEqual(events);
        expect((await request(asAdmin.app).get(`${c.base}/activities/${resendActivityId(a.id)}`)).status).toBe(404);
      }
      expect(smtp.messages.length).toBe(before);

      // Unknown outcome, but the outbox is gone since: refused as a state, and no decision is recorded.
      const { activityId } = await interruptedSend(c, 'late@example.org');
      expect((await request(asAdmin.app).delete(`${c.base}/outboxes/${c.outboxId}`)).status).toBe(204);
      const events = await history(c, activityId);
      const res = await resend(c, activityId);
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ error: 'cannot resend: outbox not found' });
      expect(await history(c, activityId)).toEqual(events);
    });

    it("answers 404 for another company's activity or an unknown one, 400 for a malformed id, 403 for agents and outsiders", async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const other = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const { activityId } = await interruptedSend(c, 'nobody@example.org');
      const events = await history(c, activityId);
      const agent = await issueAgentKey(t.rt.store, { agentId: 'outreach-bot', companyId: c.companyId }, LOCAL_OPERATOR, t.rt.now());
      await t.rt.engine.waitFor(agent.position!);
      const outsider = await boardToken('outsider', [other.companyId]);

      expect((await resend(other, activityId)).status).toBe(404);
      expect((await resend(other, activityId, outsider)).status).toBe(404);
      expect((await resend(c, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
      const malformed = await resend(c, 'not-a-uuid');
      expect(malformed.status).toBe(400);
      expect(malformed.body).toEqual({ error: 'activityId must be a UUID' });
      const byAgent = await resend(c, activityId, agent.token);
      expect(byAgent.status).toBe(403);
      expect(byAgent.body).toEqual({ error: 'Board users only' });
      expect((await resend(c, activityId, outsider)).status).toBe(403);
      expect(await history(c, activityId)).toEqual(events);

      // Still resendable by a person of the company.
      expect((await resend(c, activityId)).body).toMatchObject({ status: 'sent', resendOf: activityId });
    });

    it('two people at once: exactly one new activity and one message, the others 409', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const { activityId } = await interruptedSend(c, 'race@example.org');
      const before = smtp.messages.length;
      const replies = await Promise.all(Array.from({ length: 6 }, () => resend(c, activityId).then((r) => r)));
      expect(replies.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
      expect(replies.find((r) => r.status === 200)!.body).toEqual({
        id: resendActivityId(activityId),
        status: 'sent',
        resendOf: activityId,
      });
      expect(smtp.messages.length).toBe(before + 1);
      expect((await history(c, activityId)).filter((e) => e.type === 'ActivityResendDecided')).toHaveLength(1);
      const items = (await request(asAdmin.app).get(`${c.base}/activities`)).body.items as { id: string }[];
      expect(items.map((a) => a.id).sort()).toEqual([activityId, resendActivityId(activityId)].sort());

      // Without HTTP in front, every call reads the original before any decision is appended (on PGlite too,
      // where requests over HTTP tend to arrive one after the other): the exact revision decides.
      const second = await interruptedSend(c, 'race-2@example.org');
      const calls = await Promise.allSettled(
        Array.from({ length: 6 }, () => t.rt.dispatcher.resend(c.companyId, second.activityId, LOCAL_OPERATOR)),
      );
      expect(calls.filter((r) => r.status === 'fulfilled').map((r) => r.value.result)).toEqual([
        { id: resendActivityId(second.activityId), status: 'sent', resendOf: second.activityId },
      ]);
      expect(calls.filter((r) => r.status === 'rejected').map((r) => (r.reason as DomainError).kind)).toEqual(Array(5).fill('conflict'));
      expect(smtp.messages.length).toBe(before + 2);
      await caughtUp(second.activityId);
      expect((await history(c, second.activityId)).filter((e) => e.type === 'ActivityResendDecided')).toHaveLength(1);
    });

    it('goes through the dispatcher again: a suppression added meanwhile blocks it', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const { activityId } = await interruptedSend(c, 'gone@example.org');
      expect(
        (await request(asAdmin.app).post(`${c.base}/suppressions`).send({ recipient: 'gone@example.org', channel: 'email' })).status,
      ).toBe(201);
      const before = smtp.messages.length;
      const res = await resend(c, activityId);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: resendActivityId(activityId), status: 'blocked_by_allowlist', resendOf: activityId });
      expect((await request(asAdmin.app).get(`${c.base}/activities/${res.body.id}`)).body).toMatchObject({
        reason: 'suppressed',
        resendOf: activityId,
      });
      expect(smtp.messages.length).toBe(before);
      // The decision was taken and its outcome is known: no second one.
      expect((await resend(c, activityId)).status).toBe(409);
    });

    it('takes a new quota unit: at the cap it is blocked_by_quota', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url, dailyCap: 1 });
      const { activityId } = await interruptedSend(c, 'cap@example.org');
      const before = smtp.messages.length;
      const res = await resend(c, activityId);
      // The day cap refused it, and reopens at the next midnight of the outbox's zone (UTC).
      const midnight = new Date(
        Date.UTC(new Date(clock).getUTCFullYear(), new Date(clock).getUTCMonth(), new Date(clock).getUTCDate() + 1),
      );
      expect(res.body).toEqual({
        id: resendActivityId(activityId),
        status: 'blocked_by_quota',
        limit: { max: 1, per: 'day', unit: 'sends' },
        retryAt: midnight.toISOString(),
        resendOf: activityId,
      });
      expect(smtp.messages.length).toBe(before);
      expect((await request(asAdmin.app).get(`${c.base}/credential-buckets`).query({ day: day() })).body.items).toEqual([
        expect.objectContaining({ cap: 1, used: 1 }),
      ]);
    });

    it('a crash between the decision and the new activity: the dedup key names the resend to come, and the next call completes it', async () => {
      const c = await emailCompany(asAdmin, { smtpUrl: smtp.url });
      const { activityId, body } = await interruptedSend(c, 'crash@example.org', { clientDedupKey: 'crash-1' });
      const resentAs = resendActivityId(activityId);
      // What the dispatcher appends first, and then the process dies.
      const last = (await t.rt.store.readStream(activityStream(activityId))).at(-1)!;
      await t.rt.store.append(
        activityStream(activityId),
        [
          {
            type: 'ActivityResendDecided',
            data: { activityId, resentAs, by: 'board:ana', at: new Date(clock).toISOString() },
            metadata: { actor: { type: 'board', id: 'ana' } },
          },
        ],
        last.revision,
      );
      await caughtUp(activityId);
      expect((await request(asAdmin.app).get(`${c.base}/activities/${activityId}`)).body).toMatchObject({ status: 'failed', resentAs });
      expect((await request(asAdmin.app).post(`${c.base}/send`).send(body)).body).toEqual({
        id: activityId,
        status: 'failed',
        error: expect.objectContaining({ code: 'dispatch_interrupted' }),
        resentAs,
      });

      // Completions race too: they share the derived id, and with it the quota unit, which no loser may refund.
      const before = smtp.messages.length;
      const calls = await Promise.allSettled(
        Array.from({ length: 4 }, () => t.rt.dispatcher.resend(c.companyId, activityId, LOCAL_OPERATOR)),
      );
      expect(calls.filter((r) => r.status === 'fulfilled').map((r) => r.value.result)).toEqual([
        { id: resentAs, status: 'sent', resendOf: activityId },
      ]);
      expect(calls.filter((r) => r.status === 'rejected').map((r) => (r.reason as DomainError).kind)).toEqual(Array(3).fill('conflict'));
      expect(smtp.messages.length).toBe(before + 1);
      await caughtUp(resentAs);
      expect((await history(c, activityId)).filter((e) => e.type === 'ActivityResendDecided')).toHaveLength(1);
      expect((await request(asAdmin.app).get(`${c.base}/credential-buckets`).query({ day: day() })).body.items).toEqual([
        expect.objectContaining({ used: 2 }),
      ]);
      expect((await request(asAdmin.app).post(`${c.base}/send`).send(body)).body).toEqual({
        id: resentAs,
        status: 'sent',
        resendOf: activityId,
      });
      expect((await resend(c, activityId)).status).toBe(409);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
