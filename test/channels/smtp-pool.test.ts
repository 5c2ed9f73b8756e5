import type { SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SMTP_TIMEOUTS, EmailAdapter } from '../../src/channels/email.js';
import { ChannelError, type OutboxForAdapter, type OutgoingMessage } from '../../src/channels/port.js';
import { SmtpPools } from '../../src/channels/smtp-pools.js';
import { smtpServer } from '../support/smtp.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The tests' SMTP server (test/support/smtp.ts), closed after each test; `received`: the recipients it took. */
async function server(serverOptions: Partial<SMTPServerOptions> = {}, delayMs?: number) {
  const smtp = await smtpServer({ serverOptions, ...(delayMs ? { delayMs } : {}) });
  closers.push(smtp.close);
  return {
    ...smtp,
    get received() {
      return smtp.messages.map((m) => m.to.join(','));
    },
  };
}

function adapter(pool: { maxConnections: number; idleMs: number }, timeouts = DEFAULT_SMTP_TIMEOUTS) {
  const pools = new SmtpPools(pool);
  const a = new EmailAdapter(timeouts, undefined, pools);
  closers.push(() => a.close());
  return { a, pools };
}

const outbox: OutboxForAdapter = {
  outboxId: '00000000-0000-4000-8000-000000000001',
  companyId: 'c',
  channel: 'email',
  config: { fromAddress: 'ops@example.com' },
};
const message = (to: string, i = 0): OutgoingMessage => {
  const activityId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return { to, activityId, idempotencyKey: activityId, payload: { subject: 'Hi', text: 'Pooled' } };
};
const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('pooled SMTP per credential', () => {
  it('reuses connections: 40 concurrent sends over at most 3 connections, 10 in a row over one', async () => {
    const smtp = await server();
    const { a } = adapter({ maxConnections: 3, idleMs: 10_000 });
    const credential = smtp.url;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => a.send(outbox, credential, message(`p${i}@example.org`, i))));
    expect(results.every((r) => typeof r.providerMessageId === 'string')).toBe(true);
    expect(smtp.received).toHaveLength(40);
    expect(new Set(smtp.received).size).toBe(40);
    expect(smtp.connections()).toBeLessThanOrEqual(3);
    const before = smtp.connections();
    for (let i = 0; i < 10; i++) await a.send(outbox, credential, message(`seq${i}@example.org`, 100 + i));
    expect(smtp.connections()).toBe(before);
    expect(smtp.received).toHaveLength(50);
  });

  it('a rotated secret gets a pool of its own; the old one closes once idle', async () => {
    const smtp = await server();
    const { a, pools } = adapter({ maxConnections: 2, idleMs: 1000 });
    await a.send(outbox, smtp.url, message('r1@example.org', 1));
    expect(smtp.connections()).toBe(1);
    await a.send(outbox, `smtp://127.0.0.1:${smtp.port}`, message('r2@example.org', 2));
    expect(smtp.connections()).toBe(2);
    expect(pools.size).toBe(2);
    // The new one stays in use; the old one, asked for no more, is closed after its idle time.
    const keepNew = setInterval(() => void a.send(outbox, `smtp://127.0.0.1:${smtp.port}`, message('r3@example.org', 3)), 300);
    try {
      await until(() => pools.size === 1, 5000);
      await until(() => smtp.open() === 1, 5000);
    } finally {
      clearInterval(keepNew);
    }
  });

  it('a refusal that ends one pooled connection fails only that send; the others go, each once', async () => {
    const smtp = await server({
      onRcptTo(address, _session, cb) {
        // 421: the server closes the connection (RFC 5321 4.2.2).
        if (address.address.startsWith('drop')) cb(Object.assign(new Error('closing'), { responseCode: 421 }));
        else cb();
      },
    });
    const { a } = adapter({ maxConnections: 3, idleMs: 10_000 });
    const credential = smtp.url;
    const to = Array.from({ length: 30 }, (_, i) => (i === 7 ? 'drop@example.org' : `ok${i}@example.org`));
    const results = await Promise.allSettled(to.map((x, i) => a.send(outbox, credential, message(x, i))));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [[to[i], r.reason]] : []));
    expect(failed).toHaveLength(1);
    expect(failed[0]![0]).toBe('drop@example.org');
    expect(failed[0]![1]).toBeInstanceOf(ChannelError);
    // The pool tried it once more on a fresh connection (not a byte of the message had gone, so no copy can
    // result), was refused again and reports the closed connection: transient, the unit refunded.
    const err = failed[0]![1] as ChannelError;
    expect([err.code, err.transient, err.refundable, err.hardBounce]).toEqual(['smtp_unreachable', true, true, false]);
    expect([...smtp.received].sort()).toEqual(to.filter((x) => x !== 'drop@example.org').sort());
  });

  it('a pooled connection the server dropped while idle: the next send goes over a new one, once', async () => {
    // The server ends a session silent for 300 ms; the pool keeps connections for 10 s.
    const smtp = await server({ socketTimeout: 300 });
    const { a } = adapter({ maxConnections: 1, idleMs: 10_000 });
    const credential = smtp.url;
    await a.send(outbox, credential, message('i1@example.org', 1));
    await until(() => smtp.open() === 0, 3000);
    await a.send(outbox, credential, message('i2@example.org', 2));
    expect(smtp.received).toEqual(['i1@example.org', 'i2@example.org']);
    expect(smtp.connections()).toBe(2);
  });

  it('hands a pool no more sends than it has connections: one waiting longer than the connect timeout fails, nothing sent', async () => {
    // DATA answered after 600 ms; one connection; a place may be waited for 300 ms (the connect timeout).
    const smtp = await server({}, 600);
    const { a } = adapter({ maxConnections: 1, idleMs: 10_000 }, { connectMs: 300, greetingMs: 250, socketMs: 5_000 });
    const credential = smtp.url;
    const [first, second] = await Promise.allSettled([
      a.send(outbox, credential, message('b1@example.org', 1)),
      a.send(outbox, credential, message('b2@example.org', 2)),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    const err = (second as PromiseRejectedResult).reason as ChannelError;
    expect([err.code, err.transient, err.refundable]).toEqual(['smtp_busy', true, true]);
    expect(smtp.connections()).toBe(1);
    // The place is free again: the next send goes.
    await a.send(outbox, credential, message('b3@example.org', 3));
    expect(smtp.received).toEqual(['b1@example.org', 'b3@example.org']);
  });
});
