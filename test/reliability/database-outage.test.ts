import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { freshDatabase, serviceOn, terminateConnections } from '../support/service-process.js';
import { smtpServer } from '../support/smtp.js';
import { type ThrowawayCluster, createThrowawayCluster, throwawayClusterUnavailable } from '../support/throwaway-postgres.js';

type Service = Awaited<ReturnType<typeof serviceOn>>;
type Smtp = Awaited<ReturnType<typeof smtpServer>>;

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ms: Date.now() - started };
}

/** A company that sends email to *@example.org without approval, through the given SMTP server. */
async function emailCompany(svc: Service, smtpUrl: string, dailyCap = 10_000) {
  const base = `/api/companies/${randomUUID()}/crm`;
  const secret = await call(svc.base, 'POST', `${base}/secrets`, { name: 'smtp', value: smtpUrl });
  expect(secret.status).toBe(201);
  const outbox = await call(svc.base, 'POST', `${base}/outboxes`, {
    channel: 'email',
    secretRef: secret.body.ref,
    config: { fromAddress: 'ops@example.com' },
    dailyCap,
  });
  expect(outbox.status).toBe(201);
  expect((await call(svc.base, 'POST', `${base}/allowlist`, { pattern: '*@example.org' })).status).toBe(201);
  expect(
    (await call(svc.base, 'POST', `${base}/approval-rules`, { predicate: { channel: 'email' }, action: 'auto_approve', priority: 10 }))
      .status,
  ).toBe(201);
  const send = (to: string, clientDedupKey = randomUUID()) =>
    call(svc.base, 'POST', `${base}/send`, {
      channel: 'email',
      outboxId: outbox.body.id,
      to,
      payload: { subject: 'Hello', text: 'A short note.' },
      clientDedupKey,
    });
  return { base, send };
}

async function readyWithin(svc: Service, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const r = await fetch(`${svc.base}/readyz`).catch(() => null);
    if (r?.status === 200) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/readyz not 200 within ${ms} ms`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Recipients who got more than one message: must always be none. */
function twice(smtp: Smtp): string[] {
  const seen = new Map<string, number>();
  for (const m of smtp.messages) for (const to of m.to) seen.set(to, (seen.get(to) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([to]) => to);
}

describe.skipIf(!TEST_DATABASE_URL)(`the service through terminated database connections${POSTGRES_SKIP_REASON}`, () => {
  let svc: Service;
  let smtp: Smtp;
  let db: Awaited<ReturnType<typeof freshDatabase>>;

  beforeAll(async () => {
    smtp = await smtpServer();
    db = await freshDatabase(TEST_DATABASE_URL!);
    svc = await serviceOn(db.url);
  }, 90_000);
  afterAll(async () => {
    await svc?.stop();
    await db?.drop();
    await smtp?.close();
  });

  it('idle: every connection terminated, the process stays, the next sends succeed and /readyz is 200 again', async () => {
    const c = await emailCompany(svc, smtp.url);
    expect((await c.send('before@example.org')).body.status).toBe('sent');
    // Leadership, LISTEN and pooled connections are all idle now.
    await sleep(300);
    expect(await terminateConnections(TEST_DATABASE_URL!, svc.applicationName)).toBeGreaterThanOrEqual(3);
    await sleep(500);
    expect(svc.alive(), svc.output()).toBe(true);
    for (let i = 0; i < 5; i++) {
      const r = await c.send(`after${i}@example.org`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.status).toBe('sent');
    }
    await readyWithin(svc, 5000);
    // Heard by the connection that held it, not by the process-wide safety net.
    expect(svc.output()).not.toMatch(/Unhandled 'error' event|uncaught/);
    expect(twice(smtp)).toEqual([]);
  }, 60_000);

  it('under a burst of sends: 503s only, nothing acknowledged lost, no message twice, and sends go on', async () => {
    const c = await emailCompany(svc, smtp.url);
    const before = smtp.messages.length;
    const n = 150;
    const requests = Array.from({ length: n }, (_, i) => ({ to: `burst${i}@example.org`, key: randomUUID() }));
    const replies = requests.map((r) => c.send(r.to, r.key));
    await sleep(150);
    const killed = [await terminateConnections(TEST_DATABASE_URL!, svc.applicationName)];
    await sleep(200);
    killed.push(await terminateConnections(TEST_DATABASE_URL!, svc.applicationName));
    const first = await Promise.all(replies);
    expect(killed[0]).toBeGreaterThan(0);
    expect(svc.alive(), svc.output()).toBe(true);

    const statuses = first.map((r) => r.status);
    // A backend failure is a 503, never a 500; a request that ran into it never hangs.
    expect(
      statuses.filter((s) => s !== 200 && s !== 503),
      JSON.stringify(first.filter((r) => r.status !== 200 && r.status !== 503).map((r) => r.body)),
    ).toEqual([]);
    for (const r of first) if (r.status === 503) expect(r.body).toHaveProperty('error');

    // A retry under the same dedup key answers with the first request's outcome, or says it is still in progress.
    const finals = await Promise.all(
      requests.map(async (req, i) => (first[i]!.status === 200 ? first[i]! : await c.send(req.to, req.key))),
    );
    const acknowledgedSent = requests.filter((_, i) => finals[i]!.status === 200 && finals[i]!.body.status === 'sent');
    expect(acknowledgedSent.length).toBeGreaterThan(0);
    // Nothing acknowledged is lost: every "sent" reached the SMTP server, and the activity says so.
    const received = new Set(smtp.messages.slice(before).flatMap((m) => m.to));
    for (const req of acknowledgedSent) expect(received.has(req.to), req.to).toBe(true);
    for (const [i, req] of requests.entries()) {
      if (finals[i]!.status !== 200) continue;
      const a = await call(svc.base, 'GET', `${c.base}/activities/${finals[i]!.body.id as string}`);
      expect(a.status).toBe(200);
      expect(a.body.status, req.to).toBe(finals[i]!.body.status);
    }
    expect(twice(smtp)).toEqual([]);
    expect(svc.output()).not.toMatch(/Unhandled 'error' event|uncaught/);
    // Afterwards the service works as before.
    expect((await c.send('after-burst@example.org')).body.status).toBe('sent');
    await readyWithin(svc, 5000);
    const tally: Record<string, number> = {};
    for (const r of finals)
      tally[`${r.status} ${String(r.body.status ?? r.body.error)}`] =
        (tally[`${r.status} ${String(r.body.status ?? r.body.error)}`] ?? 0) + 1;
    process.stdout.write(
      `burst through two terminations (${killed.join(', ')} connections): first replies ${JSON.stringify(countBy(statuses))}, after retries ${JSON.stringify(tally)}\n`,
    );
  }, 120_000);
});

function countBy(xs: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

const noCluster = throwawayClusterUnavailable();

describe.skipIf(noCluster !== null)(
  `the service through a PostgreSQL stopped for 10 s${noCluster ? ` (skipped: ${noCluster})` : ''}`,
  () => {
    let cluster: ThrowawayCluster;
    let svc: Service;
    let smtp: Smtp;

    beforeAll(async () => {
      smtp = await smtpServer();
      cluster = await createThrowawayCluster();
      svc = await serviceOn(cluster.url);
    }, 120_000);
    afterAll(async () => {
      await svc?.stop();
      try {
        cluster?.drop();
      } finally {
        await smtp?.close();
      }
    });

    it('answers 503 fast while it is away, stays alive, and is ready within 5 s of its return', async () => {
      const c = await emailCompany(svc, smtp.url);
      expect((await c.send('up@example.org')).body.status).toBe('sent');
      cluster.stop();
      const stoppedAt = Date.now();
      const during: { status: number; ms: number }[] = [];
      let readyDuring = 0;
      while (Date.now() - stoppedAt < 10_000) {
        const r = await c.send(`down${during.length}@example.org`);
        during.push({ status: r.status, ms: r.ms });
        expect(r.body).toHaveProperty('error');
        const ready = await fetch(`${svc.base}/readyz`);
        if (ready.status === 200) readyDuring++;
        expect((await fetch(`${svc.base}/healthz`)).status).toBe(200);
        await sleep(250);
      }
      expect(svc.alive(), svc.output()).toBe(true);
      expect(during.length).toBeGreaterThan(5);
      expect(during.filter((d) => d.status !== 503)).toEqual([]);
      // "Fast": no request waited for the database past a few seconds.
      expect(Math.max(...during.map((d) => d.ms))).toBeLessThan(6000);
      expect(readyDuring).toBe(0);

      cluster.start();
      const back = await readyWithin(svc, 5000);
      const after = await c.send('back@example.org');
      expect(after.status).toBe(200);
      expect(after.body.status).toBe('sent');
      expect(svc.alive()).toBe(true);
      expect(twice(smtp)).toEqual([]);
      expect(svc.output()).not.toMatch(/Unhandled 'error' event|uncaught/);
      process.stdout.write(
        `database stopped 10 s: ${during.length} sends answered ${JSON.stringify(countBy(during.map((d) => d.status)))}, slowest ${Math.max(...during.map((d) => d.ms))} ms; /readyz 200 ${back} ms after the server was back\n`,
      );
    }, 120_000);
  },
);
