import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueBoardToken, revokeAccessToken } from '../../src/commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { parseEgressAllow } from '../../src/channels/egress.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { smtpServer } from '../support/smtp.js';
import { emailSignature } from '../webhooks/support.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const hasChromium = existsSync(CHROMIUM);

// The web console (issue 17) in headless Chromium, against the service over real HTTP in authenticated mode:
// sign-in with a pasted token, approvals (one, bulk, refused), rules with preview and reordering, an activity's
// timeline after a delivery webhook, and a phone-sized viewport. Screenshots go to test-artifacts/console/.
describe.skipIf(!hasChromium)(`the web console in Chromium${hasChromium ? '' : ' (skipped: /usr/bin/chromium not installed)'}`, () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof smtpServer>>;
  let server: Server;
  let origin: string;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let admin: string;
  let member: string;
  const companyId = randomUUID();
  const base = `/api/companies/${companyId}/crm`;
  let outboxId: string;

  const token = async (instanceAdmin: boolean, userId: string) => {
    const issued = await issueBoardToken(
      t.rt.store,
      { userId, instanceAdmin, companyIds: [companyId], ttlDays: 0 },
      LOCAL_OPERATOR,
      t.rt.now(),
    );
    await t.rt.engine.waitFor(issued.position!);
    return issued.token;
  };
  const as = (tok: string) => ({ authorization: `Bearer ${tok}` });
  const send = async (to: string, subject: string) => {
    const r = await request(t.app)
      .post(`${base}/send`)
      .set(as(admin))
      .send({ channel: 'email', outboxId, to, payload: { subject, text: `Body of ${subject}` } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as { id: string; status: string };
  };
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const signIn = async (tok: string) => {
    await page.goto(`${origin}/console#/approvals`);
    await page.getByLabel('Board token').fill(tok);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Approvals' }).waitFor();
  };
  const signOut = () => page.getByRole('button', { name: 'Sign out' }).click();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    smtp = await smtpServer();
    // Authenticated mode refuses private destinations unless allowed: the loopback SMTP server is.
    const egressAllow = parseEgressAllow(`127.0.0.1:${new URL(smtp.url).port}`);
    t = await startTestApp('pglite', { config: { authMode: 'authenticated', egressAllow } });
    server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = await token(true, 'ada-admin');
    member = await token(false, 'max-member');
    const secret = await request(t.app).post(`${base}/secrets`).set(as(admin)).send({ name: 'smtp', value: smtp.url });
    const hook = await request(t.app).post(`${base}/secrets`).set(as(admin)).send({ name: 'hook', value: 'console-hook-key' });
    const outbox = await request(t.app)
      .post(`${base}/outboxes`)
      .set(as(admin))
      .send({
        channel: 'email',
        niche: 'renovation',
        secretRef: secret.body.ref,
        config: { fromAddress: 'ops@example.com', fromName: 'Ops', webhook: { secretRef: hook.body.ref } },
        dailyCap: 100,
        timezone: 'UTC',
        limits: [{ max: 20, per: 'hour' }],
      });
    expect(outbox.status, JSON.stringify(outbox.body)).toBe(201);
    outboxId = outbox.body.id;
    expect((await request(t.app).post(`${base}/allowlist`).set(as(admin)).send({ pattern: '*@example.org' })).status).toBe(201);
    // No rule: every send waits for a person.
    for (const [to, subject] of [
      ['first@example.org', 'First note'],
      ['second@example.org', 'Second note'],
      ['third@example.org', 'Third note'],
    ])
      expect((await send(to!, subject!)).status).toBe('draft_pending_approval');

    profile = mkdtempSync(join(tmpdir(), 'crm-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await t?.close();
    await smtp?.close();
  });

  it('a token revoked while the console is open: the next view goes back to sign-in with the API’s words', async () => {
    const issued = await issueBoardToken(
      t.rt.store,
      { userId: 'rita-revoked', instanceAdmin: false, companyIds: [companyId], ttlDays: 0 },
      LOCAL_OPERATOR,
      t.rt.now(),
    );
    await t.rt.engine.waitFor(issued.position!);
    await signIn(issued.token);
    const revoked = await revokeAccessToken(t.rt.store, { tokenId: issued.id, kind: 'board' }, LOCAL_OPERATOR, t.rt.now());
    await t.rt.engine.waitFor(revoked!);
    await page.getByRole('link', { name: 'Approval rules' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^401: /);
    expect(await page.evaluate(() => sessionStorage.getItem('crm.console.token'))).toBeNull();
  });

  it('on a first run of local_trusted (no company anywhere) the operator names a company or makes a new id', async () => {
    const local = await startTestApp('pglite');
    const localServer = local.app.listen(0, '127.0.0.1');
    await new Promise((r) => localServer.once('listening', r));
    try {
      const localOrigin = `http://127.0.0.1:${(localServer.address() as AddressInfo).port}`;
      await page.goto(`${localOrigin}/console`);
      await page.getByRole('heading', { name: 'Choose a company' }).waitFor();
      await page.getByLabel('Company id').fill('not-a-uuid');
      await page.getByRole('button', { name: 'Open' }).click();
      await expect.poll(() => page.locator('#status').textContent()).toBe('A company id is a UUID.');
      const named = randomUUID();
      await page.getByLabel('Company id').fill(named);
      await page.getByRole('button', { name: 'Open' }).click();
      await page.getByRole('heading', { name: 'Approvals' }).waitFor();
      expect(await page.locator('#company').inputValue()).toBe(named);
      await page.evaluate(() => sessionStorage.clear());
      await page.goto(`${localOrigin}/console#/outboxes`);
      await page.getByRole('button', { name: 'New company id' }).click();
      await page.getByRole('heading', { name: 'Outboxes and quota' }).waitFor();
      expect(await page.locator('#company').inputValue()).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await new Promise((r) => localServer.close(r));
      await local.close();
    }
  });

  it('asks for a token, and refuses a wrong one with the API’s words', async () => {
    await page.goto(`${origin}/console`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot('sign-in');
    await page.getByLabel('Board token').fill('pcp_board_0123456789abcdef0123456789abcdef');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^401: /);
    // Kept in this tab's sessionStorage only, and never in the URL.
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(page.url()).not.toContain('pcp_board_');
  });

  it('a board user who is no instance admin sees bulk approval disabled with the reason, and approving is refused as the API words it', async () => {
    // Each approval's message comes with the list: no history request per row.
    const histories: string[] = [];
    const onRequest = (r: { url: () => string }) => void (r.url().includes('/history') && histories.push(r.url()));
    page.on('request', onRequest);
    await signIn(member);
    const row = page.getByRole('row', { name: /first@example\.org/ });
    await expect.poll(() => row.textContent()).toMatch(/First note/);
    await expect.poll(() => row.textContent()).toMatch(/no rule matched/);
    page.off('request', onRequest);
    expect(histories).toEqual([]);
    await row.getByRole('checkbox').check();
    const bulk = page.getByRole('button', { name: 'Approve selected' });
    expect(await bulk.isDisabled()).toBe(true);
    expect(await page.locator('#bulk-reason').textContent()).toMatch(/instance admins only/);
    expect(await page.getByRole('button', { name: 'Reject selected' }).isDisabled()).toBe(false);
    await row.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('403: Instance admin only');
    expect(smtp.messages).toHaveLength(0);
    await shot('approvals-member-refused');
    // Rejecting is a board user's call: the third one goes, and the outcome shows without a reload.
    await page
      .getByRole('row', { name: /third@example\.org/ })
      .getByRole('button', { name: 'Reject' })
      .click();
    await expect.poll(() => page.locator('#outcome').textContent()).toMatch(/Rejected.*rejected/);
    await expect.poll(() => page.getByRole('row', { name: /third@example\.org/ }).count()).toBe(0);
    expect(page.url()).not.toContain('pcp_board_');
    await signOut();
  });

  it('an instance admin approves one pending send, sees it sent, and the SMTP server receives it', async () => {
    // By keyboard: the token field has focus, Tab reaches the button.
    await page.goto(`${origin}/console#/approvals`);
    await page.getByLabel('Board token').waitFor();
    await page.keyboard.type(admin);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Approvals' }).waitFor();
    await page
      .getByRole('row', { name: /first@example\.org/ })
      .getByRole('button', { name: 'Approve' })
      .click();
    await expect.poll(() => page.locator('#outcome').textContent()).toMatch(/Approved.*sent/);
    await expect.poll(() => page.getByRole('row', { name: /first@example\.org/ }).count()).toBe(0);
    await expect.poll(() => smtp.messages.length).toBe(1);
    expect(smtp.messages[0]!.to).toEqual(['first@example.org']);
    // Bulk approval is enabled for an admin.
    await page
      .getByRole('row', { name: /second@example\.org/ })
      .getByRole('checkbox')
      .check();
    expect(await page.getByRole('button', { name: 'Approve selected' }).isDisabled()).toBe(false);
    await shot('approvals-admin');
  });

  it('creates rules, previews which one decides, and reorders them', async () => {
    await page.goto(`${origin}/console#/rules`);
    await page.getByRole('heading', { name: 'Approval rules' }).waitFor();
    const add = async (tags: string, action: string, priority: string) => {
      await page.locator('#new-channel').selectOption('email');
      await page.locator('#new-tags').fill(tags);
      await page.locator('#new-action').selectOption(action);
      await page.locator('#new-priority').fill(priority);
      await page.getByRole('button', { name: 'Add rule' }).click();
      await expect.poll(() => page.getByText('Rule added.').count()).toBe(1);
    };
    await add('vip', 'auto_approve', '50');
    await add('', 'queue_for_manual', '60');
    const rows = () => page.locator('tbody tr:not([hidden])').allTextContents();
    await expect
      .poll(rows)
      .toEqual([
        expect.stringMatching(/^1channel email; tags vipauto_approve50/),
        expect.stringMatching(/^2channel emailqueue_for_manual60/),
      ]);

    const preview = async () => {
      await page.locator('#pv-channel').selectOption('email');
      await page.locator('#pv-tags').fill('vip');
      await page.getByRole('button', { name: 'Preview' }).click();
    };
    await preview();
    await expect.poll(() => page.locator('#preview-result').textContent()).toBe('Rule 1 matches (channel email; tags vip): auto_approve');
    await page.getByRole('button', { name: 'Move rule 1 down' }).click();
    await expect
      .poll(rows)
      .toEqual([
        expect.stringMatching(/^1channel emailqueue_for_manual50/),
        expect.stringMatching(/^2channel email; tags vipauto_approve60/),
      ]);
    // The API holds the new order: evaluation by ascending priority.
    const api = await request(t.app).get(`${base}/approval-rules`).set(as(admin));
    expect(api.body.items.map((r: { action: string; priority: number }) => [r.action, r.priority])).toEqual([
      ['queue_for_manual', 50],
      ['auto_approve', 60],
    ]);
    await preview();
    await expect.poll(() => page.locator('#preview-result').textContent()).toBe('Rule 1 matches (channel email): queue_for_manual');
    await shot('rules');
    // A bad rule is refused with the API's issues listed.
    await page.locator('#new-start').fill('09:00');
    await page.locator('#new-end').fill('09:00');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^400: .*start and end must differ/);
  });

  it('moves a rule one place among rules of equal priority', async () => {
    const ids: string[] = [];
    for (const tag of ['tie1', 'tie2', 'tie3']) {
      const r = await request(t.app)
        .post(`${base}/approval-rules`)
        .set(as(admin))
        .send({ predicate: { tags: [tag] }, action: 'queue_for_manual', priority: 70 });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.id);
    }
    const ties = async () =>
      ((await request(t.app).get(`${base}/approval-rules`).set(as(admin))).body.items as { id: string; priority: number }[])
        .filter((r) => ids.includes(r.id))
        .map((r) => ids.indexOf(r.id) + 1);
    expect(await ties()).toEqual([1, 2, 3]);
    // The page may be on this view already (a hash that does not change loads nothing): loaded afresh.
    await page.goto(`${origin}/console#/rules`);
    await page.reload();
    await page.getByRole('heading', { name: 'Approval rules' }).waitFor();
    const rows = page.locator('tbody tr:not([hidden])');
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(3);
    const last = await rows.count();
    await page.getByRole('button', { name: `Move rule ${last} up` }).click();
    await expect.poll(() => page.getByText('Order changed.').count()).toBe(1);
    // One place up, past tie2 only: as the API evaluates them.
    expect(await ties()).toEqual([1, 3, 2]);
    for (const id of ids) await request(t.app).delete(`${base}/approval-rules/${id}`).set(as(admin));
  });

  it("shows an activity's timeline with a delivery reported by webhook", async () => {
    const sent = (await request(t.app).get(`${base}/activities?status=sent`).set(as(admin))).body.items[0];
    const activity = (await request(t.app).get(`${base}/activities/${sent.id}`).set(as(admin))).body;
    const at = new Date();
    const body = JSON.stringify({
      type: 'delivered',
      messageId: activity.providerMessageId,
      recipient: 'first@example.org',
      at: at.toISOString(),
    });
    const hook = await request(t.app)
      .post(`/api/webhooks/email/${outboxId}`)
      .set({ 'content-type': 'application/json', ...emailSignature('console-hook-key', body, at) })
      .send(body);
    expect(hook.body).toEqual({ received: 1, recorded: 1 });

    await page.goto(`${origin}/console#/activities`);
    await page.getByRole('heading', { name: 'Activities' }).waitFor();
    await page.locator('#f-status').selectOption('sent');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: sent.id.slice(0, 8) }).click();
    const timeline = page.getByRole('list', { name: 'Timeline' });
    await timeline.waitFor();
    const items = await timeline.locator('li strong').allTextContents();
    expect(items[0]).toBe('ActivityRequested');
    expect(items).toEqual(expect.arrayContaining(['ActivityQueuedForApproval', 'ActivityApproved', 'ActivitySent', 'Delivery: delivered']));
    expect(items.indexOf('Delivery: delivered')).toBeGreaterThan(items.indexOf('ActivitySent'));
    expect(await timeline.textContent()).toMatch(/board:ada-admin/);
    await shot('activity-timeline');
  });

  it("shows each outbox's use today against its cap and its other limits, readable on a phone", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${origin}/console#/outboxes`);
    await page.getByRole('heading', { name: 'Outboxes and quota' }).waitFor();
    await expect.poll(() => page.getByRole('img', { name: '1 of 100 used today' }).count()).toBe(1);
    await expect.poll(() => page.getByText('1 / 20 sends per hour').count()).toBe(1);
    await shot('outboxes-phone');
    // Nothing wider than the screen but the tables' own scroll areas.
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
        .map((e) => e.tagName + '.' + e.className + '#' + e.id),
    );
    expect(wide).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.goto(`${origin}/console#/approvals`);
    await page.getByRole('heading', { name: 'Approvals' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot('approvals-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('lists sequences, and shows one with its steps, stats and enrollments', async () => {
    const created = await request(t.app)
      .post(`${base}/sequences`)
      .set(as(admin))
      .send({
        name: 'Intro',
        steps: [
          { outboxId, payload: { subject: 'Hi {{firstName}}', text: 'About us' }, waitBefore: 'PT0S' },
          { outboxId, payload: { subject: 'Following up', text: 'Any thoughts?' }, waitBefore: 'P2D' },
        ],
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const enrolled = await request(t.app)
      .post(`${base}/sequences/${created.body.id}/enrollments`)
      .set(as(admin))
      .send({ contacts: [{ to: 'seq@example.org', variables: { firstName: 'Sam' } }] });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    await page.goto(`${origin}/console#/sequences`);
    await page.getByRole('heading', { name: 'Sequences' }).waitFor();
    await page.getByRole('link', { name: 'Intro' }).click();
    await page.getByRole('heading', { name: 'Intro' }).waitFor();
    const tables = page.locator('main table');
    await expect.poll(() => tables.nth(0).textContent()).toMatch(/Hi \{\{firstName\}\}.*P2D/);
    await expect.poll(() => page.locator('main dl').textContent()).toMatch(/Enrolled1/);
    await expect.poll(() => page.locator('main').textContent()).toMatch(/seq@example\.org/);
    await shot('sequence');
  });

  it("pages through a sequence's enrollments beyond the first page", async () => {
    const created = await request(t.app)
      .post(`${base}/sequences`)
      .set(as(admin))
      .send({ name: 'Many', steps: [{ outboxId, payload: { subject: 'Later', text: 'Tomorrow' }, waitBefore: 'P1D' }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const contacts = Array.from({ length: 55 }, (_, i) => ({ to: `many${String(i).padStart(2, '0')}@example.org` }));
    const enrolled = await request(t.app).post(`${base}/sequences/${created.body.id}/enrollments`).set(as(admin)).send({ contacts });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    await page.goto(`${origin}/console#/sequences/${created.body.id}`);
    await page.getByRole('heading', { name: 'Many' }).waitFor();
    const enrollmentRows = page.locator('main table').last().locator('tbody tr');
    await expect.poll(() => enrollmentRows.count()).toBe(50);
    const firstPage = await enrollmentRows.allTextContents();
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => enrollmentRows.count()).toBe(5);
    const secondPage = await enrollmentRows.allTextContents();
    // Every contact once over the two pages, none on both.
    const seen = [...firstPage, ...secondPage].map((row) => /many\d\d@example\.org/.exec(row)?.[0]);
    expect(new Set(seen)).toEqual(new Set(contacts.map((c) => c.to)));
    expect(await page.getByRole('button', { name: 'Next page' }).count()).toBe(0);
  });

  it('runs under its Content-Security-Policy with no violation and no failed request', async () => {
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('requestfailed', (r) => problems.push(`${r.url()} ${r.failure()?.errorText}`));
    for (const view of ['approvals', 'rules', 'activities', 'outboxes', 'sequences']) {
      await page.goto(`${origin}/console#/${view}`);
      await page.locator('main h2').waitFor();
    }
    expect(problems).toEqual([]);
  });
});
