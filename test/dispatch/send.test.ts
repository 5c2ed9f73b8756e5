import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { activityStream } from '../../src/domain/activity.js';
import { localDay } from '../../src/domain/time-window.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { smtpServer } from '../support/smtp.js';
import { type EsdbStandin, startEsdbStandin } from '../eventstore/standin/esdb-standin.js';

// eventLog 'eventstoredb': the event log on the EventStoreDB adapter, through the real client over gRPC against
// the stand-in (test/eventstore/standin; not EventStoreDB), read models on the SQL backend.
function suite(backend: 'pglite' | 'postgres', eventLog: 'sql' | 'eventstoredb' = 'sql') {
  describe(`the dispatcher on ${backend}${eventLog === 'eventstoredb' ? ', its event log on the EventStoreDB adapter (stand-in)' : ''}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    let standin: EsdbStandin | undefined;
    beforeAll(async () => {
      smtp = await smtpServer({ rejectRecipients: ['bounce@example.org'] });
      if (eventLog === 'eventstoredb') standin = await startEsdbStandin();
      t = await startTestApp(backend, standin ? { config: { eventStoreUrl: standin.url } } : {});
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
      await standin?.stop();
    });
    const today = () => localDay(new Date(), 'UTC');

    it('sends an allowed, auto-approved email over SMTP, and records every step', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const before = smtp.messages.length;
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('Ana@Example.org', { payload: { subject: 'Q3 plans', text: 'Hi Ana' } }, c.outboxId));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: expect.any(String), status: 'sent' });
      expect(smtp.messages.length).toBe(before + 1);
      const mail = smtp.messages.at(-1)!;
      expect(mail.to.map((x) => x.toLowerCase())).toEqual(['ana@example.org']);
      expect(mail.from).toBe('ops@example.com');
      expect(mail.raw).toContain('Subject: Q3 plans');
      expect(mail.raw).toMatch(new RegExp(`X-CRM-Activity-Id: ${res.body.id}`, 'i'));

      const activity = await request(t.app).get(`${c.base}/activities/${res.body.id}`);
      // The activity records the canonical recipient: what the checks saw and the SMTP server was given.
      expect(activity.body).toMatchObject({
        id: res.body.id,
        status: 'sent',
        channel: 'email',
        outboxId: c.outboxId,
        to: 'ana@example.org',
        error: null,
      });
      expect(activity.body.providerMessageId).toMatch(/@/);
      const history = await request(t.app).get(`${c.base}/activities/${res.body.id}/history`);
      expect(history.body.events.map((e: { type: string }) => e.type)).toEqual([
        'ActivityRequested',
        'ActivityDispatching',
        'ActivitySent',
      ]);
      // The rule's approval is part of the dispatch's start.
      expect(history.body.events[1].data).toMatchObject({ approvedByRule: c.ruleId });
      // On the adapter the events are in the stand-in's log, not only in the read models.
      if (standin) expect(standin.log.lastRevision(activityStream(res.body.id))).toBe(2n);
      const buckets = await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() });
      expect(buckets.body.items).toEqual([{ credential: c.credentialId, day: today(), cap: 100, used: 1 }]);
    });

    it('blocks a recipient outside the allowlist: no message, no quota', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: ['only@example.org'] });
      const before = smtp.messages.length;
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('other@example.org', {}, c.outboxId));
      expect(res.body.status).toBe('blocked_by_allowlist');
      expect(smtp.messages.length).toBe(before);
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items).toEqual([]);
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('ONLY@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('sent');
    });

    it('a dry run applies the allowlist and nothing else', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false, allow: ['a@example.org'] });
      const before = smtp.messages.length;
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('a@example.org', { channel: 'dry-run' }, c.outboxId))
        ).body.status,
      ).toBe('sent_dryrun');
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('b@example.org', { channel: 'dry-run' }, c.outboxId))
        ).body.status,
      ).toBe('blocked_by_allowlist');
      expect(smtp.messages.length).toBe(before);
      expect((await request(t.app).get(`${c.base}/approvals`).query({ status: 'pending' })).body.items).toEqual([]);
    });

    it('without a matching rule, a send waits for a human; bulk-approve sends it', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      const before = smtp.messages.length;
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('lea@example.org', {}, c.outboxId));
      expect(res.body).toEqual({ id: expect.any(String), status: 'draft_pending_approval', approvalId: expect.any(String) });
      expect(smtp.messages.length).toBe(before);
      const pending = await request(t.app).get(`${c.base}/approvals`).query({ status: 'pending' });
      expect(pending.body.items).toEqual([
        expect.objectContaining({ id: res.body.approvalId, activityId: res.body.id, channel: 'email', to: 'lea@example.org' }),
      ]);

      const approved = await request(t.app)
        .post(`${c.base}/approvals/bulk-approve`)
        .send({ approvalIds: [res.body.approvalId] });
      expect(approved.status).toBe(200);
      expect(approved.body.results).toEqual([{ approvalId: res.body.approvalId, activityId: res.body.id, status: 'sent' }]);
      expect(smtp.messages.length).toBe(before + 1);
      expect((await request(t.app).get(`${c.base}/activities/${res.body.id}`)).body.status).toBe('sent');
      expect(
        (
          await request(t.app)
            .post(`${c.base}/approvals/bulk-approve`)
            .send({ approvalIds: [res.body.approvalId] })
        ).status,
      ).toBe(409);
    });

    it('bulk-approve is all-or-nothing; bulk-reject rejects', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      const send = async (to: string) =>
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email(to, {}, c.outboxId))
        ).body;
      const a = await send('x1@example.org');
      const b = await send('x2@example.org');
      const before = smtp.messages.length;
      for (const ids of [
        [a.approvalId, randomUUID()],
        [a.approvalId, b.approvalId, a.approvalId],
      ]) {
        const res = await request(t.app).post(`${c.base}/approvals/bulk-approve`).send({ approvalIds: ids });
        expect([400, 409]).toContain(res.status);
      }
      expect(
        (
          await request(t.app)
            .post(`${c.base}/approvals/bulk-approve`)
            .send({ approvalIds: Array.from({ length: 501 }, () => randomUUID()) })
        ).status,
      ).toBe(400);
      const other = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      const foreign = (
        await request(t.app)
          .post(`${other.base}/send`)
          .send(email('y@example.org', {}, other.outboxId))
      ).body;
      expect(
        (
          await request(t.app)
            .post(`${c.base}/approvals/bulk-approve`)
            .send({ approvalIds: [a.approvalId, foreign.approvalId] })
        ).status,
      ).toBe(409);
      expect(smtp.messages.length).toBe(before);
      expect((await request(t.app).get(`${c.base}/approvals`).query({ status: 'pending' })).body.items).toHaveLength(2);

      const rejected = await request(t.app)
        .post(`${c.base}/approvals/bulk-reject`)
        .send({ approvalIds: [a.approvalId, b.approvalId], reason: 'off-brand' });
      expect(rejected.body.results.map((r: { status: string }) => r.status)).toEqual(['rejected', 'rejected']);
      expect((await request(t.app).get(`${c.base}/approvals`).query({ status: 'rejected' })).body.items).toHaveLength(2);
      expect(smtp.messages.length).toBe(before);
    });

    it('an SMTP refusal fails the send and refunds the unit; the next send within the cap goes', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 1 });
      const failed = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('bounce@example.org', {}, c.outboxId));
      expect(failed.body).toMatchObject({ status: 'failed', error: { code: 'smtp_550' } });
      expect(JSON.stringify(failed.body)).not.toContain('mail-pass');
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items[0]).toMatchObject({
        used: 0,
        cap: 1,
      });
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('fine@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('sent');
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('late@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('blocked_by_quota');
    });

    it('200 concurrent sends against a cap of 50: exactly 50 sent', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 50 });
      const before = smtp.messages.length;
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          request(t.app)
            .post(`${c.base}/send`)
            .send(email(`p${i}@example.org`, {}, c.outboxId)),
        ),
      );
      const count = (s: string) => replies.filter((r) => r.body.status === s).length;
      const tally: Record<string, number> = {};
      for (const r of replies) {
        const k = `${r.status} ${r.body.status ?? r.body.error}${r.body.error?.code ? ` ${r.body.error.code} ${r.body.error.message}` : ''}`;
        tally[k] = (tally[k] ?? 0) + 1;
      }
      expect(tally).toEqual({ '200 sent': 50, '200 blocked_by_quota': 150 });
      expect(count('sent')).toBe(50);
      expect(count('blocked_by_quota')).toBe(150);
      expect(smtp.messages.length - before).toBe(50);
      if (standin) {
        const streams = new Set(replies.map((r) => activityStream(r.body.id as string)));
        expect(standin.log.all.filter((e) => e.type === 'ActivitySent' && streams.has(e.streamName))).toHaveLength(50);
      }
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items[0]).toMatchObject({
        used: 50,
        cap: 50,
      });
    }, 120_000);

    it('100 concurrent sends with one dedup key: one activity, one message; another body under the key is 409', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const before = smtp.messages.length;
      const body = email('dedup@example.org', { clientDedupKey: `k-${randomUUID()}` }, c.outboxId);
      const replies = await Promise.all(Array.from({ length: 100 }, () => request(t.app).post(`${c.base}/send`).send(body)));
      expect(new Set(replies.map((r) => `${r.status} ${r.body.id} ${r.body.status}`))).toEqual(
        new Set([`200 ${replies[0]!.body.id} sent`]),
      );
      expect(smtp.messages.length - before).toBe(1);
      const list = await request(t.app).get(`${c.base}/activities`).query({ outboxId: c.outboxId });
      expect(list.body.items).toHaveLength(1);
      // The racing requests share one activity id and so one unit: a loser must not give back the winner's.
      await expect
        .poll(async () => (await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items[0]?.used, {
          timeout: 5000,
        })
        .toBe(1);
      const different = await request(t.app)
        .post(`${c.base}/send`)
        .send({ ...body, payload: { subject: 'Other', text: 'x' } });
      expect(different.status).toBe(409);
      expect(smtp.messages.length - before).toBe(1);
    }, 120_000);

    it('refuses bad sends with 4xx and writes nothing', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const count = async () => (await request(t.app).get(`${c.base}/activities`).query({ outboxId: c.outboxId })).body.items.length;
      const before = await count();
      const cases: [Record<string, unknown>, number][] = [
        [email('a@example.org', {}, randomUUID()), 404],
        [email('a@example.org', { channel: 'linkedin' }, c.outboxId), 422],
        [email('a@example.org', { payload: { subject: 'no body' } }, c.outboxId), 400],
        [email('a@example.org', { payload: { text: 'no subject' } }, c.outboxId), 400],
        [email('not-an-email', {}, c.outboxId), 400],
        [email('a@example.org', { contentPieceId: randomUUID() }, c.outboxId), 404],
        [email('a@example.org', { unknown: 1 }, c.outboxId), 400],
        [email('a@example.org', { channel: 'fax' }, c.outboxId), 400],
        [{ ...email('a@example.org', {}, c.outboxId), outboxId: 'nope' }, 400],
      ];
      for (const [body, status] of cases) {
        const res = await request(t.app).post(`${c.base}/send`).send(body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(res.body.error).toBeTypeOf('string');
      }
      expect(await count()).toBe(before);
    });

    it('a content piece lends its niche and tags to the rules', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      await request(t.app)
        .post(`${c.base}/approval-rules`)
        .send({ predicate: { tags: ['nurture', 'vip'] }, action: 'auto_approve', priority: 5 });
      const piece = await request(t.app)
        .post(`${c.base}/content-pieces`)
        .send({ title: 't', sourcePath: `k/${randomUUID()}.md`, sourceSha256: 'a'.repeat(64), tags: ['nurture'] });
      const without = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('a@example.org', { contentPieceId: piece.body.id }, c.outboxId));
      expect(without.body.status).toBe('draft_pending_approval');
      const withTag = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('a@example.org', { contentPieceId: piece.body.id, tags: ['vip'] }, c.outboxId));
      expect(withTag.body.status).toBe('sent');
    });

    it('a reservation left without outcome past the lease is settled as dispatch_interrupted, its unit kept', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, dailyCap: 5 });
      const activityId = randomUUID();
      const past = new Date(Date.now() - 10 * 60_000).toISOString();
      await t.rt.store.append(
        activityStream(activityId),
        [
          {
            type: 'ActivityRequested',
            data: {
              activityId,
              companyId: c.companyId,
              outboxId: c.outboxId,
              channel: 'email',
              outboxChannel: 'email',
              to: 'z@example.org',
              payload: {},
              contentPieceId: null,
              niche: null,
              tags: [],
              clientDedupKey: null,
              requestHash: 'x',
              requestedBy: 'test',
              requestedAt: past,
            },
          },
          { type: 'ActivityApproved', data: { activityId, approvalId: null, ruleId: null, by: 'rule', at: past } },
          {
            type: 'ActivityDispatching',
            data: { activityId, bucket: 'b', credentialId: c.credentialId, day: today(), leaseUntil: past, at: past },
          },
        ],
        'no_stream',
      );
      await t.rt.dispatcher.quota.reserve(
        { companyId: c.companyId, credentialId: c.credentialId, day: today() },
        activityId,
        5,
        new Date(),
      );
      const last = (await t.rt.store.readStream(activityStream(activityId))).at(-1)!;
      await t.rt.engine.waitFor(last.position);
      expect(await t.rt.reconciler.runOnce()).toBeGreaterThanOrEqual(1);
      const events = (await request(t.app).get(`${c.base}/activities/${activityId}/history`)).body.events;
      expect(events.at(-1)).toMatchObject({
        type: 'ActivityFailed',
        data: { error: { code: 'dispatch_interrupted' }, quotaRefunded: false },
      });
      await t.rt.engine.waitFor((await t.rt.store.readStream(activityStream(activityId))).at(-1)!.position);
      expect((await request(t.app).get(`${c.base}/activities/${activityId}`)).body).toMatchObject({
        status: 'failed',
        error: { code: 'dispatch_interrupted' },
      });
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items[0]).toMatchObject({ used: 1 });
      expect(await t.rt.reconciler.runOnce()).toBe(0);

      // A dispatch still within its lease is left alone, however old its last event.
      const alive = randomUUID();
      const future = new Date(Date.now() + 60_000).toISOString();
      await t.rt.store.append(
        activityStream(alive),
        [
          {
            type: 'ActivityRequested',
            data: {
              activityId: alive,
              companyId: c.companyId,
              outboxId: c.outboxId,
              channel: 'email',
              outboxChannel: 'email',
              to: 'z@example.org',
              payload: {},
              contentPieceId: null,
              niche: null,
              tags: [],
              clientDedupKey: null,
              requestHash: 'x',
              requestedBy: 'test',
              requestedAt: past,
            },
          },
          { type: 'ActivityApproved', data: { activityId: alive, approvalId: null, ruleId: null, by: 'rule', at: past } },
          {
            type: 'ActivityDispatching',
            data: { activityId: alive, bucket: 'b', credentialId: c.credentialId, day: today(), leaseUntil: future, at: past },
          },
        ],
        'no_stream',
      );
      expect(await t.rt.dispatcher.settleInterrupted(alive, LOCAL_OPERATOR)).toBe(false);
      expect((await t.rt.store.readStream(activityStream(alive))).at(-1)!.type).toBe('ActivityDispatching');
    });
  });
}

suite('pglite');
suite('pglite', 'eventstoredb');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
