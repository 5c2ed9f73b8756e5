import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowlistStream } from '../../src/domain/allowlist.js';
import { activityStream } from '../../src/domain/activity.js';
import { approvalStream } from '../../src/domain/approval.js';
import { derivedUuid } from '../../src/domain/derived-id.js';
import { canonicalEmail } from '../../src/domain/recipients.js';
import { suppressionStream } from '../../src/domain/suppression.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { email, emailCompany } from '../support/crm.js';
import { fakeHttpServer, json } from '../support/fake-http.js';
import { smtpServer } from '../support/smtp.js';

/** Spellings of `local@domain` that nodemailer hands an SMTP server as `RCPT TO:<local@domain>` (or a subaddress of it). */
const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,8}$/);
const recased = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
const deliveredTo = (local: string, domains: readonly string[]) =>
  fc
    .record({
      local: recased(local).chain((l) => fc.constantFrom(l, `"${l}"`, `${l}+${'q3'}`)),
      domain: fc.constantFrom(...domains).chain(recased),
      text: word,
      wrap: fc.integer({ min: 0, max: 9 }),
      before: fc.constantFrom('', ' ', '\t', '  '),
      after: fc.constantFrom('', ' ', '\t', '\n'),
    })
    .map(({ local, domain, text, wrap, before, after }) => {
      const a = `${local}@${domain}`;
      return (
        before +
        [
          a,
          `<${a}>`,
          `${text} <${a}>`,
          `"${text}" <${a}>`,
          `(${text})${a}`,
          `${a} (${text})`,
          `${text}: ${a};`,
          `${text}:${a}`,
          `x<${a}`,
          `<${a}> (${text})`,
        ][wrap]! +
        after
      );
    });

const MEMBER_ID = 'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E';
const OTHER_ID = 'ACoAAB9xYzQwErTyUiOpAsDfGhJkLzXcVbNm123';

/** Unipile as documented: `GET /api/v1/users/{public identifier or provider id}` names the member; invitations. */
function unipile() {
  return fakeHttpServer((req, res) => {
    const m = /^\/api\/v1\/users\/([^/?]+)\?account_id=acc_1$/.exec(req.url);
    if (req.method === 'GET' && m) {
      const who = decodeURIComponent(m[1]!);
      if (who === 'ana-doe' || who === MEMBER_ID)
        return json(res, 200, { object: 'UserProfile', provider: 'LINKEDIN', provider_id: MEMBER_ID, public_identifier: 'ana-doe' });
      if (who === 'bo-lee' || who === OTHER_ID)
        return json(res, 200, { object: 'UserProfile', provider: 'LINKEDIN', provider_id: OTHER_ID, public_identifier: 'bo-lee' });
      return json(res, 404, {
        status: 404,
        type: 'errors/resource_not_found',
        title: 'Resource not found.',
        detail: 'The requested user was not found.',
      });
    }
    if (req.method === 'POST' && req.url === '/api/v1/users/invite')
      return json(res, 201, { object: 'UserInvitationSent', invitation_id: `inv_${randomUUID()}` });
    json(res, 404, { status: 404, type: 'errors/not_found', title: 'Not found' });
  });
}

function suite(backend: 'pglite' | 'postgres') {
  describe(`recipient spellings on ${backend}`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof smtpServer>>;
    let provider: Awaited<ReturnType<typeof unipile>>;
    beforeAll(async () => {
      smtp = await smtpServer();
      provider = await unipile();
      t = await startTestApp(backend);
    });
    afterAll(async () => {
      await t?.close();
      await smtp?.close();
      await provider?.close();
    });

    /** `*@client.example` and `*@bücher.example` allowed, `ana@client.example` and `jo@bücher.example` suppressed. */
    async function suppressedCompany() {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: ['*@client.example', '*@bücher.example'] });
      for (const recipient of ['ana@client.example', 'jo@xn--bcher-kva.example']) {
        expect((await request(t.app).post(`${c.base}/suppressions`).send({ recipient, channel: 'email' })).status).toBe(201);
      }
      return c;
    }
    const reasonOf = async (base: string, id: string) => (await request(t.app).get(`${base}/activities/${id}`)).body.reason;

    it('the four spellings an SMTP server delivers to a suppressed address are 400, and nothing is sent', async () => {
      const c = await suppressedCompany();
      const rcpts = smtp.rcpts.length;
      for (const to of ['(x)ana@client.example', '"ana"@client.example', 'g:ana@client.example', 'x<ana@client.example']) {
        const res = await request(t.app)
          .post(`${c.base}/send`)
          .send(email(to, {}, c.outboxId));
        expect({ to, status: res.status }).toEqual({ to, status: 400 });
        expect(res.body).toMatchObject({ error: 'to is not a valid email recipient', details: [{ path: ['to'] }] });
      }
      expect(smtp.rcpts.slice(rcpts)).toEqual([]);
      expect((await request(t.app).get(`${c.base}/activities`).query({ outboxId: c.outboxId })).body.items).toEqual([]);
    });

    it('other spellings of a suppressed address are that address: blocked as suppressed (case, IDN, subaddress, whitespace)', async () => {
      const c = await suppressedCompany();
      const rcpts = smtp.rcpts.length;
      for (const to of [
        'ANA@Client.Example',
        '  ana@client.example\t',
        'ana+q3@client.example',
        'jo@Bücher.example',
        'JO@XN--BCHER-KVA.EXAMPLE',
      ]) {
        const res = await request(t.app)
          .post(`${c.base}/send`)
          .send(email(to, {}, c.outboxId));
        expect({ to, status: res.status, result: res.body.status }).toEqual({ to, status: 200, result: 'blocked_by_allowlist' });
        expect(await reasonOf(c.base, res.body.id)).toBe('suppressed');
      }
      expect(smtp.rcpts.slice(rcpts)).toEqual([]);
    });

    it('property: no spelling of a suppressed address gets a message through the dispatcher', async () => {
      const c = await suppressedCompany();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(deliveredTo('ana', ['client.example']), deliveredTo('jo', ['xn--bcher-kva.example', 'bücher.example'])),
          async (to) => {
            const rcpts = smtp.rcpts.length;
            const messages = smtp.messages.length;
            const res = await request(t.app)
              .post(`${c.base}/send`)
              .send(email(to, {}, c.outboxId));
            if (res.status === 200) {
              expect(res.body.status, to).toBe('blocked_by_allowlist');
              expect(await reasonOf(c.base, res.body.id), to).toBe('suppressed');
            } else {
              expect(res.status, to).toBe(400);
            }
            expect({ to, rcpts: smtp.rcpts.slice(rcpts), messages: smtp.messages.length - messages }).toEqual({
              to,
              rcpts: [],
              messages: 0,
            });
          },
        ),
        { numRuns: 60 },
      );
    }, 120_000);

    it('a send records the canonical to, and that is what the SMTP server is given', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: ['*@bücher.example'] });
      const res = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('  Lea.Ng@Bücher.Example ', {}, c.outboxId));
      expect(res.body.status).toBe('sent');
      // nodemailer puts the domain on the wire in Unicode to a server that offers SMTPUTF8: the same domain.
      expect(smtp.rcpts.slice(-1).map(canonicalEmail)).toEqual(['lea.ng@xn--bcher-kva.example']);
      expect(smtp.messages.at(-1)!.to.map(canonicalEmail)).toEqual(['lea.ng@xn--bcher-kva.example']);
      expect((await request(t.app).get(`${c.base}/activities/${res.body.id}`)).body.to).toBe('lea.ng@xn--bcher-kva.example');
      // And the allowlist and suppression lists hold the same form.
      const allowlist = (await request(t.app).get(`${c.base}/allowlist`)).body.items.map((i: { pattern: string }) => i.pattern);
      expect(allowlist).toContain('*@xn--bcher-kva.example');
      const s = await request(t.app).post(`${c.base}/suppressions`).send({ recipient: 'Lea.Ng@bücher.example', channel: 'email' });
      expect(s.body.recipient).toBe('lea.ng@xn--bcher-kva.example');
    });

    it('allowlist and suppression entries that are no bare recipient are 400', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      for (const pattern of [
        'Ana <ana@client.example>',
        '"ana"@client.example',
        'g:*@client.example',
        'https://example.com/in/ana',
        '+33 6 12 34 56 78',
      ]) {
        expect({ pattern, status: (await request(t.app).post(`${base}/allowlist`).send({ pattern })).status }).toEqual({
          pattern,
          status: 400,
        });
      }
      for (const [recipient, channel] of [
        ['Ana <ana@client.example>', 'email'],
        ['(x)ana@client.example', null],
        ['+33 6 12 34 56 78', 'whatsapp'],
        ['https://example.com/in/ana', 'linkedin'],
      ] as const) {
        expect({ recipient, status: (await request(t.app).post(`${base}/suppressions`).send({ recipient, channel })).status }).toEqual({
          recipient,
          status: 400,
        });
      }
      expect((await request(t.app).get(`${base}/allowlist`)).body.items).toEqual([]);
      expect((await request(t.app).get(`${base}/suppressions`)).body.items).toEqual([]);
    });

    it('entries stored before recipients were canonical still hold: a Unicode domain allows and suppresses its punycode spelling', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: [] });
      const at = new Date().toISOString();
      // As the earlier code wrote them: the pattern and the recipient lower-cased as typed, the stream named by that.
      await t.rt.store.append(
        allowlistStream(c.companyId),
        [
          {
            type: 'AllowlistEntryAdded',
            data: {
              companyId: c.companyId,
              entry: { entryId: randomUUID(), pattern: '*@bücher.example', channel: null, note: null, createdAt: at, createdBy: 'old' },
            },
          },
        ],
        'any',
      );
      const oldId = derivedUuid('suppression', c.companyId, 'mia@bücher.example', 'email');
      await t.rt.store.append(
        suppressionStream(oldId),
        [
          {
            type: 'RecipientSuppressed',
            data: {
              entry: {
                suppressionId: oldId,
                companyId: c.companyId,
                recipient: 'mia@bücher.example',
                channel: 'email',
                source: 'manual',
                reason: 'manual',
                createdAt: at,
                createdBy: 'old',
              },
            },
          },
        ],
        'no_stream',
      );
      const rcpts = smtp.rcpts.length;
      const allowed = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('ole@xn--bcher-kva.example', {}, c.outboxId));
      expect(allowed.body.status).toBe('sent');
      const blocked = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('mia@xn--bcher-kva.example', {}, c.outboxId));
      expect(blocked.body.status).toBe('blocked_by_allowlist');
      expect(await reasonOf(c.base, blocked.body.id)).toBe('suppressed');
      expect(smtp.rcpts.slice(rcpts).map(canonicalEmail)).toEqual(['ole@xn--bcher-kva.example']);
    });

    it('a send that waited for approval with a to from before canonical recipients is blocked, not sent to what nodemailer makes of it', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: ['*'], autoApprove: false });
      const waiting = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('someone@client.example', {}, c.outboxId));
      expect(waiting.body.status).toBe('draft_pending_approval');
      // The same request as the earlier code recorded it for `x<ana@client.example` (its regex let that through).
      const activityId = randomUUID();
      const approvalId = randomUUID();
      const at = new Date().toISOString();
      await t.rt.store.append(
        approvalStream(approvalId),
        [
          {
            type: 'ApprovalRequested',
            data: {
              approvalId,
              activityId,
              companyId: c.companyId,
              outboxId: c.outboxId,
              channel: 'email',
              to: 'x<ana@client.example',
              ruleId: null,
              at,
            },
          },
        ],
        'no_stream',
      );
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
              to: 'x<ana@client.example',
              payload: { subject: 'Hi', text: 'x' },
              contentPieceId: null,
              niche: null,
              tags: [],
              clientDedupKey: null,
              requestHash: 'h',
              requestedBy: 'old',
              requestedAt: at,
            },
          },
          { type: 'ActivityQueuedForApproval', data: { activityId, approvalId, ruleId: null, at } },
        ],
        'no_stream',
      );
      const rcpts = smtp.rcpts.length;
      const approved = await request(t.app)
        .post(`${c.base}/approvals/bulk-approve`)
        .send({ approvalIds: [approvalId] });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      expect(approved.body.results).toEqual([{ approvalId, activityId, status: 'blocked_by_allowlist' }]);
      expect(await reasonOf(c.base, activityId)).toBe('invalid_recipient');
      expect(smtp.rcpts.slice(rcpts)).toEqual([]);
    });

    it('an unsubscribe link issued for an old spelling suppresses the mailbox it reached', async () => {
      const c = await emailCompany(t, { smtpUrl: smtp.url, allow: ['*@client.example'] });
      const token = t.rt.unsubscribeTokens.issue({ companyId: c.companyId, recipient: 'x<eve@client.example', channel: 'email' });
      const res = await request(t.app)
        .post(`/unsubscribe/${token}`)
        .set('accept', 'application/json')
        .type('form')
        .send('List-Unsubscribe=One-Click');
      expect(res.status).toBe(200);
      const blocked = await request(t.app)
        .post(`${c.base}/send`)
        .send(email('eve@client.example', {}, c.outboxId));
      expect(blocked.body.status).toBe('blocked_by_allowlist');
      expect(await reasonOf(c.base, blocked.body.id)).toBe('suppressed');
    });

    it('WhatsApp: a number that is not E.164 as written is a 400', async () => {
      const base = `/api/companies/${randomUUID()}/crm`;
      const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'wa', value: 'EAAG-token' });
      const outbox = await request(t.app)
        .post(`${base}/outboxes`)
        .send({ channel: 'whatsapp', secretRef: secret.body.ref, config: { phoneNumberId: '1234567890' }, dailyCap: 10, timezone: 'UTC' });
      expect(outbox.status).toBe(201);
      for (const to of ['+33 6 12 34 56 78', '0612345678', '+33-612-345-678']) {
        const res = await request(t.app)
          .post(`${base}/send`)
          .send({ channel: 'whatsapp', outboxId: outbox.body.id, to, payload: { template: { name: 'hello_world', language: 'en_US' } } });
        expect({ to, status: res.status }).toEqual({ to, status: 400 });
      }
    });

    describe('LinkedIn: one member, whichever name the send gives', () => {
      async function linkedInCompany(allow: string[]) {
        const base = `/api/companies/${randomUUID()}/crm`;
        const secret = await request(t.app).post(`${base}/secrets`).send({ name: 'unipile', value: 'unipile-key' });
        const outbox = await request(t.app)
          .post(`${base}/outboxes`)
          .send({
            channel: 'linkedin',
            secretRef: secret.body.ref,
            config: { accountId: 'acc_1', baseUrl: provider.url },
            dailyCap: 10,
            timezone: 'UTC',
          });
        expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
        for (const pattern of allow) expect((await request(t.app).post(`${base}/allowlist`).send({ pattern })).status).toBe(201);
        expect(
          (
            await request(t.app)
              .post(`${base}/approval-rules`)
              .send({ predicate: { channel: 'linkedin' }, action: 'auto_approve', priority: 10 })
          ).status,
        ).toBe(201);
        const send = (to: string) =>
          request(t.app)
            .post(`${base}/send`)
            .send({ channel: 'linkedin', outboxId: outbox.body.id, to, payload: { kind: 'invitation', note: 'Hello' } });
        return { base, send };
      }
      const invites = () => provider.received.filter((r) => r.method === 'POST' && r.url === '/api/v1/users/invite');

      it('a suppressed profile URL blocks a send to the bare identifier, to other spellings of the URL, and to the member id', async () => {
        const c = await linkedInCompany(['*']);
        expect(
          (
            await request(t.app)
              .post(`${c.base}/suppressions`)
              .send({ recipient: 'https://www.linkedin.com/in/ana-doe', channel: 'linkedin' })
          ).body.recipient,
        ).toBe('linkedin.com/in/ana-doe');
        const before = invites().length;
        for (const to of ['ana-doe', '@Ana-Doe', 'https://www.linkedin.com/in/ana-doe/', 'linkedin.com/in/Ana-Doe', MEMBER_ID]) {
          const res = await c.send(to);
          expect({ to, status: res.status, result: res.body.status }).toEqual({ to, status: 200, result: 'blocked_by_allowlist' });
          expect(await reasonOf(c.base, res.body.id)).toBe('suppressed');
        }
        expect(invites().length).toBe(before);
        // Someone else still gets through.
        expect((await c.send('bo-lee')).body.status).toBe('sent');
      });

      it('a suppressed member id blocks a send to their profile URL (Unipile says who it is before the checks)', async () => {
        const c = await linkedInCompany(['*']);
        expect((await request(t.app).post(`${c.base}/suppressions`).send({ recipient: MEMBER_ID })).status).toBe(201);
        const before = invites().length;
        const res = await c.send('https://www.linkedin.com/in/ana-doe/');
        expect(res.body.status).toBe('blocked_by_allowlist');
        expect(await reasonOf(c.base, res.body.id)).toBe('suppressed');
        expect(invites().length).toBe(before);
      });

      it('an allowed member id allows their profile URL; the activity records the id, and the invitation goes to it after one lookup', async () => {
        const c = await linkedInCompany([MEMBER_ID]);
        const lookups = provider.received.filter((r) => r.method === 'GET').length;
        const res = await c.send('https://www.linkedin.com/in/Ana-Doe/?trk=people');
        expect(res.body.status).toBe('sent');
        expect(provider.received.filter((r) => r.method === 'GET').length - lookups).toBe(1);
        expect(JSON.parse(invites().at(-1)!.body)).toMatchObject({ provider_id: MEMBER_ID, account_id: 'acc_1' });
        expect((await request(t.app).get(`${c.base}/activities/${res.body.id}`)).body.to).toBe(MEMBER_ID);
        // Another member is not allowed by that entry.
        expect((await c.send('bo-lee')).body.status).toBe('blocked_by_allowlist');
      });

      it('a member Unipile does not know: failed with its code, before any quota', async () => {
        const c = await linkedInCompany(['*']);
        const res = await c.send('nobody-here');
        expect(res.body).toMatchObject({ status: 'failed', error: { code: 'unipile_resource_not_found' } });
        expect(
          (
            await request(t.app)
              .get(`${c.base}/credential-buckets`)
              .query({ day: new Date().toISOString().slice(0, 10) })
          ).body.items,
        ).toEqual([]);
      });
    });
  });
}

suite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => suite('postgres'));
