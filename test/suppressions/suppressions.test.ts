import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suppressRecipient } from '../../src/commands/suppressions.js';
import { localDay } from '../../src/domain/time-window.js';
import { masterKeyFrom } from '../../src/secrets/crypto.js';
import { unsubscribeTokens } from '../../src/secrets/unsubscribe-token.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { type ReceivedMail, smtpServer } from '../support/smtp.js';

/** A header of a received message, unfolded (long headers may wrap). */
function header(mail: ReceivedMail, name: string): string | null {
  const head = mail.raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m ? m[1]!.trim() : null;
}

/** The path of the one-click link of a received message. */
function unsubscribePath(mail: ReceivedMail): string {
  const value = header(mail, 'List-Unsubscribe');
  expect(value).toMatch(/^<http:\/\/127\.0\.0\.1:3000\/unsubscribe\/[A-Za-z0-9_-]+>$/);
  return new URL(value!.slice(1, -1)).pathname;
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`suppressions on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    beforeAll(async () => {
      smtp = await smtpServer({ rejectRecipients: ['gone@example.org'] });
      t = await startTestApp(backend);
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
    });
    const today = () => localDay(new Date(), 'UTC');
    const list = async (base: string, query: Record<string, string | number> = {}) => {
      const res = await request(t.app).get(`${base}/suppressions`).query(query);
      expect(res.status).toBe(200);
      return res.body as { items: Record<string, unknown>[]; nextCursor: string | null };
    };

    it('adds, lists (newest first, a page at a time), and lifts manual entries; twice is one entry', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      const first = await request(t.app).post(`${base}/suppressions`).send({ recipient: 'Ana@Example.org', channel: 'email' });
      expect(first.status).toBe(201);
      expect(first.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        recipient: 'ana@example.org',
        channel: 'email',
        source: 'manual',
        reason: 'manual',
        createdAt: expect.any(String),
        createdBy: 'board:local',
      });
      const again = await request(t.app)
        .post(`${base}/suppressions`)
        .send({ recipient: ' ANA@example.ORG', channel: 'email', reason: 'manual' });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      const everywhere = await request(t.app).post(`${base}/suppressions`).send({ recipient: '+33612345678' });
      expect(everywhere.status).toBe(201);
      expect(everywhere.body).toMatchObject({ recipient: '+33612345678', channel: null });

      expect((await list(base)).items.map((i) => i.id)).toEqual([everywhere.body.id, first.body.id]);
      const page1 = await list(base, { limit: 1 });
      expect(page1.items.map((i) => i.id)).toEqual([everywhere.body.id]);
      const page2 = await list(base, { limit: 1, cursor: page1.nextCursor! });
      expect(page2).toEqual({ items: [first.body], nextCursor: null });
      expect((await list(base, { recipient: 'ANA@example.org' })).items).toEqual([first.body]);
      expect((await list(base, { source: 'bounce' })).items).toEqual([]);

      expect((await request(t.app).delete(`${base}/suppressions/${first.body.id}`)).status).toBe(204);
      expect((await request(t.app).delete(`${base}/suppressions/${first.body.id}`)).status).toBe(404);
      expect((await list(base)).items.map((i) => i.id)).toEqual([everywhere.body.id]);
      // Another company sees none of it, and cannot lift it.
      const other = `/api/companies/${randomUUID()}/crm`;
      expect((await list(other)).items).toEqual([]);
      expect((await request(t.app).delete(`${other}/suppressions/${everywhere.body.id}`)).status).toBe(404);
    });

    it('refuses bad input with a 400 and changes nothing', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      const cases: unknown[] = [
        { recipient: 'ana@example.org', extra: 1 },
        { recipient: 'not an email', channel: 'email' },
        { recipient: '+33612345678', channel: 'email' },
        { recipient: 'ana@example.org', channel: 'whatsapp' },
        { recipient: 'two words' },
        { recipient: '' },
        { recipient: 42 },
        {},
        { recipient: 'ana@example.org', channel: 'fax' },
        { recipient: 'ana@example.org', channel: 'dry-run' },
        { recipient: 'ana@example.org', reason: 'bounce' },
        { recipient: `${'a'.repeat(400)}@example.org` },
        { recipient: 'ana\u0000@example.org' },
      ];
      for (const body of cases) {
        const res = await request(t.app)
          .post(`${base}/suppressions`)
          .send(body as object);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toBeTypeOf('string');
      }
      expect((await request(t.app).post(`${base}/suppressions`).set('content-type', 'application/json').send('{"recipient":')).status).toBe(
        400,
      );
      for (const q of [{ cursor: 'nope' }, { limit: 0 }, { source: 'other' }, { unknown: 1 }]) {
        expect((await request(t.app).get(`${base}/suppressions`).query(q)).status, JSON.stringify(q)).toBe(400);
      }
      expect((await request(t.app).delete(`${base}/suppressions/not-a-uuid`)).status).toBe(400);
      expect((await request(t.app).delete(`${base}/suppressions/${randomUUID()}`)).status).toBe(404);
      expect((await list(base)).items).toEqual([]);
    });

    it('one-click unsubscribe: GET changes nothing; POST suppresses; the next send is blocked and spends no quota', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const before = smtp.messages.length;
      const sent = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('Ana@Example.org', {}, c.outboxId));
      expect(sent.body.status).toBe('sent');
      const mail = smtp.messages.at(-1)!;
      expect(header(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
      const path = unsubscribePath(mail);

      // A link scanner's GET: a page with a form, and nothing recorded.
      const page = await request(t.app).get(path);
      expect(page.status).toBe(200);
      expect(page.type).toBe('text/html');
      expect(page.text).toContain('<form method="post">');
      expect(page.text).toContain('name="List-Unsubscribe" value="One-Click"');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect((await list(c.base)).items).toEqual([]);
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('ana@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('sent');
      expect(smtp.messages.length).toBe(before + 2);

      // The mail provider's POST: any Host, any Origin, no credentials.
      const post = () =>
        request(t.app)
          .post(path)
          .set('Host', 'mail-relay.example.net')
          .set('Origin', 'https://mail.example.com')
          .type('form')
          .send('List-Unsubscribe=One-Click');
      const done = await post();
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ status: 'unsubscribed' });
      expect((await post()).status).toBe(200);
      const entries = (await list(c.base)).items;
      expect(entries).toEqual([
        expect.objectContaining({
          recipient: 'ana@example.org',
          channel: 'email',
          source: 'unsubscribe',
          reason: 'one_click',
          createdBy: 'recipient',
        }),
      ]);

      const used = async () =>
        (await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items[0].used as number;
      const usedBefore = await used();
      expect(usedBefore).toBe(2);
      const blocked = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('ANA@example.org', {}, c.outboxId));
      expect(blocked.body).toEqual({ id: expect.any(String), status: 'blocked_by_allowlist' });
      const activity = await request(t.app).get(`${c.base}/activities/${blocked.body.id}`);
      expect(activity.body).toMatchObject({ status: 'blocked_by_allowlist', reason: 'suppressed' });
      expect(await used()).toBe(usedBefore);
      expect(smtp.messages.length).toBe(before + 2);
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('ana@example.org', { channel: 'dry-run' }, c.outboxId))
        ).body.status,
      ).toBe('blocked_by_allowlist');

      // Others still get mail; the same address at another company too.
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('bob@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('sent');
      const other = await emailCompany(t, { smtpUrl: smtp.url });
      expect(
        (
          await request(t.app)
            .post(`${other.base}/send`)
            .send(email('ana@example.org', {}, other.outboxId))
        ).body.status,
      ).toBe('sent');

      // Lifted by a person: mail goes again.
      expect((await request(t.app).delete(`${c.base}/suppressions/${entries[0]!.id}`)).status).toBe(204);
      expect(
        (
          await request(t.app)
            .post(`${c.base}/send`)
            .send(email('ana@example.org', {}, c.outboxId))
        ).body.status,
      ).toBe('sent');
    });

    it('a send waiting for approval is blocked when approved after its recipient unsubscribed', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false });
      const pending = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('later@example.org', {}, c.outboxId));
      expect(pending.body.status).toBe('draft_pending_approval');
      const token = t.rt.unsubscribeTokens.issue({ companyId: c.companyId, recipient: 'later@example.org', channel: 'email' });
      expect((await request(t.app).post(`/unsubscribe/${token}`).type('form').send('List-Unsubscribe=One-Click')).status).toBe(200);
      const before = smtp.messages.length;
      const approved = await request(t.app)
        .post(`${c.base}/approvals/bulk-approve`)
        .send({ approvalIds: [pending.body.approvalId] });
      expect(approved.body.results).toEqual([
        { approvalId: pending.body.approvalId, activityId: pending.body.id, status: 'blocked_by_allowlist' },
      ]);
      expect(smtp.messages.length).toBe(before);
      expect((await request(t.app).get(`${c.base}/activities/${pending.body.id}`)).body).toMatchObject({
        status: 'blocked_by_allowlist',
        reason: 'suppressed',
      });
      expect((await request(t.app).get(`${c.base}/credential-buckets`).query({ day: today() })).body.items).toEqual([]);
    });

    it('a send waiting for approval is blocked when approved after its allowlist entry was removed', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, autoApprove: false, allow: ['gone@example.org'] });
      const pending = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('gone@example.org', {}, c.outboxId));
      expect(pending.body.status).toBe('draft_pending_approval');
      const entries = await request(t.app).get(`${c.base}/allowlist`);
      for (const e of entries.body.items) expect((await request(t.app).delete(`${c.base}/allowlist/${e.id}`)).status).toBe(204);
      const before = smtp.messages.length;
      const approved = await request(t.app)
        .post(`${c.base}/approvals/bulk-approve`)
        .send({ approvalIds: [pending.body.approvalId] });
      expect(approved.body.results).toEqual([
        { approvalId: pending.body.approvalId, activityId: pending.body.id, status: 'blocked_by_allowlist' },
      ]);
      expect(smtp.messages.length).toBe(before);
      expect((await request(t.app).get(`${c.base}/activities/${pending.body.id}`)).body).toMatchObject({
        status: 'blocked_by_allowlist',
        reason: 'not_allowlisted',
      });
    });

    it('a browser gets a confirmation page', async () => {
      const companyId = randomUUID();
      const token = t.rt.unsubscribeTokens.issue({ companyId, recipient: 'page@example.org', channel: 'email' });
      const res = await request(t.app)
        .post(`/unsubscribe/${token}`)
        .set('Accept', 'text/html,application/xhtml+xml')
        .type('form')
        .send('List-Unsubscribe=One-Click');
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/html');
      expect(res.text).toContain('unsubscribed');
      expect((await list(`/api/companies/${companyId}/crm`)).items).toHaveLength(1);
    });

    it('refuses a tampered, forged or foreign token with a JSON 400, and records nothing', async () => {
      const companyId = randomUUID();
      const subject = { companyId, recipient: 'victim@example.org', channel: 'email' as const };
      const good = t.rt.unsubscribeTokens.issue(subject);
      const raw = Buffer.from(good, 'base64url');
      raw[raw.length - 1] = raw[raw.length - 1]! ^ 0x80;
      const bad = [
        raw.toString('base64url'),
        good.slice(0, -4),
        unsubscribeTokens(masterKeyFrom(Buffer.alloc(32, 9))).issue(subject),
        Buffer.from(JSON.stringify({ c: companyId, r: 'victim@example.org', ch: 'email' })).toString('base64url'),
        'x'.repeat(3000),
        '%00',
      ];
      for (const token of bad) {
        for (const method of ['get', 'post'] as const) {
          const res = await request(t.app)
            [method](`/unsubscribe/${token}`)
            .type('form')
            .send(method === 'post' ? 'List-Unsubscribe=One-Click' : '');
          expect(res.status, `${method} ${token.slice(0, 30)}`).toBe(400);
          expect(res.body).toEqual({ error: expect.any(String) });
        }
      }
      expect((await list(`/api/companies/${companyId}/crm`)).items).toEqual([]);
      expect((await request(t.app).post(`/unsubscribe/${good}`).send()).status).toBe(200);
    });

    it('a permanent SMTP refusal of the recipient records a bounce; the next send is blocked without a try', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url });
      const failed = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('Gone@example.org', {}, c.outboxId));
      expect(failed.body).toMatchObject({ status: 'failed', error: { code: 'smtp_550' } });
      // The server's own words stay on the activity's error (test/support/smtp.ts answers "550 no such mailbox").
      const activity = await request(t.app).get(`${c.base}/activities/${failed.body.id}`);
      expect(activity.body.error).toEqual({
        code: 'smtp_550',
        message: 'the SMTP server answered 550: recipient refused',
        providerReply: '550 no such mailbox',
      });
      expect((await list(c.base)).items).toEqual([
        expect.objectContaining({
          recipient: 'gone@example.org',
          channel: 'email',
          source: 'bounce',
          reason: 'smtp_550',
          createdBy: 'email:bounce',
        }),
      ]);
      const blocked = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('gone@example.org', {}, c.outboxId));
      expect(blocked.body.status).toBe('blocked_by_allowlist');
      expect((await request(t.app).get(`${c.base}/activities/${blocked.body.id}`)).body.reason).toBe('suppressed');
    });

    it('suppressRecipient (for bounce webhooks) normalises, is idempotent, and refuses a malformed address', async () => {
      const companyId = randomUUID();
      const input = {
        companyId,
        recipient: ' Hook@Example.org ',
        channel: 'email' as const,
        source: 'bounce' as const,
        reason: 'hard_bounce',
      };
      const a = await suppressRecipient(t.rt.store, input, new Date());
      const b = await suppressRecipient(t.rt.store, { ...input, recipient: 'hook@example.org' }, new Date());
      expect(a).toMatchObject({ created: true, entry: { recipient: 'hook@example.org', source: 'bounce' } });
      expect(b).toMatchObject({ created: false, position: null, entry: a.entry });
      await expect(suppressRecipient(t.rt.store, { ...input, recipient: 'nope' }, new Date())).rejects.toMatchObject({
        kind: 'invalid_input',
      });
      await t.rt.engine.waitFor(a.position!);
      expect((await list(`/api/companies/${companyId}/crm`)).items).toHaveLength(1);
    });

    it('local_trusted still guards /api from a foreign Host while /unsubscribe takes any', async () => {
      const token = t.rt.unsubscribeTokens.issue({ companyId: randomUUID(), recipient: 'x@example.org', channel: 'email' });
      expect(t.rt.config.authMode).toBe('local_trusted');
      expect((await request(t.app).get(`/api/companies/${randomUUID()}/crm/suppressions`).set('Host', 'evil.example')).status).toBe(403);
      expect(
        (await request(t.app).post(`/unsubscribe/${token}`).set('Host', 'evil.example').set('Origin', 'https://evil.example')).status,
      ).toBe(200);
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
