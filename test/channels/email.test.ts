import { type AddressInfo, type Socket, createServer } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { type Resolve, egressPolicy, parseEgressAllow } from '../../src/channels/egress.js';
import { EmailAdapter } from '../../src/channels/email.js';
import { withUnsubscribeLink } from '../../src/channels/email-unsubscribe.js';
import { ChannelError, type OutboxForAdapter } from '../../src/channels/port.js';
import { OUTBOX_CONFIG } from '../../src/channels/schemas.js';

const OUTBOX_ID = '0b9f5a3e-3f7c-4a55-9a36-2d1f0c3b7e11';
const outbox = (config: Record<string, unknown> = {}): OutboxForAdapter => ({
  outboxId: OUTBOX_ID,
  companyId: 'c1',
  channel: 'email',
  config: { fromAddress: 'sales@acme.example', fromName: 'Acme Sales', ...config },
});
const message = (payload: Record<string, unknown> = { subject: 'Hello', text: 'Hi Ana' }, unsubscribeUrl?: string) => ({
  activityId: 'a1',
  to: 'ana@client.example',
  payload,
  idempotencyKey: 'k1',
  ...(unsubscribeUrl ? { unsubscribeUrl } : {}),
});
const FAST = { connectMs: 2_000, greetingMs: 2_000, socketMs: 5_000 };

/** The message as received: headers unfolded, the body's quoted-printable undone (enough to read our own parts). */
function decoded(raw: string): string {
  const at = raw.search(/\r?\n\r?\n/);
  const body = raw
    .slice(at)
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return raw.slice(0, at).replace(/\r?\n[ \t]+/g, ' ') + body;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An in-process SMTP server on `host` (port 0: any), set up as each test needs it; records what it accepts. */
async function server(opts: Partial<SMTPServerOptions>, host = '127.0.0.1', port = 0) {
  const received: string[] = [];
  const s = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // The adapter pools its connections: close them at the end of a test rather than wait for them.
    closeTimeout: 100,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks).toString('utf8'));
        cb();
      });
    },
    ...opts,
  });
  await new Promise<void>((resolve) => s.listen(port, host, resolve));
  closers.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
  return { port: (s.server as unknown as { address(): AddressInfo }).address().port, received };
}

/** Accepts TCP and never greets (a stalled MTA). */
async function silent(host = '127.0.0.1', port = 0) {
  const sockets = new Set<Socket>();
  const s = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => s.listen(port, host, resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return { port: (s.address() as AddressInfo).port };
}

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  const err = await p.then(
    () => expect.unreachable('the send succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChannelError);
  return err as ChannelError;
}

/** A server refusing RCPT TO with this reply (smtp-server sends `<responseCode> <message>`). */
const refusingRcpt = (responseCode: number, words: string): Partial<SMTPServerOptions> => ({
  onRcptTo(_address, _session, cb) {
    cb(Object.assign(new Error(words), { responseCode }));
  },
});

describe('SMTP failure reasons', () => {
  // RFC 5321 §4.2.3 lists 550 "Requested action not taken: mailbox unavailable (e.g., mailbox not found, no
  // access, or command rejected for policy reasons)"; RFC 3463 §3.2 defines X.1.1 "Bad destination mailbox
  // address". Two servers' wordings of the two cases:
  it('"550 relaying denied" and "550 5.1.1 user unknown" are both smtp_550 "recipient refused", told apart by the reply kept', async () => {
    const relay = await server(refusingRcpt(550, 'relaying denied'));
    const relayErr = await failure(new EmailAdapter(FAST).send(outbox(), `smtp://127.0.0.1:${relay.port}`, message()));
    expect(relayErr).toMatchObject({ code: 'smtp_550', message: 'the SMTP server answered 550: recipient refused', hardBounce: false });
    expect(relayErr.details).toEqual({ providerReply: '550 relaying denied' });

    const unknown = await server(refusingRcpt(550, '5.1.1 user unknown'));
    const unknownErr = await failure(new EmailAdapter(FAST).send(outbox(), `smtp://127.0.0.1:${unknown.port}`, message()));
    expect(unknownErr).toMatchObject({ code: 'smtp_550', message: 'the SMTP server answered 550: recipient refused', hardBounce: true });
    expect(unknownErr.details).toEqual({ providerReply: '550 5.1.1 user unknown', enhancedStatus: '5.1.1' });
  });

  it("keeps a policy refusal's enhanced status (5.7.1) without suppressing the address", async () => {
    const s = await server(refusingRcpt(550, '5.7.1 Service unavailable, Client host blocked using zen.spamhaus.org'));
    const err = await failure(new EmailAdapter(FAST).send(outbox(), `smtp://127.0.0.1:${s.port}`, message()));
    expect(err).toMatchObject({ code: 'smtp_550', hardBounce: false, details: { enhancedStatus: '5.7.1' } });
  });

  it('a refused login is smtp_auth, and a reply echoing the AUTH data keeps none of it, on one short printable line', async () => {
    const user = 'mailer';
    const pass = 's3cr3t-Pa55';
    // RFC 4616 §2: the PLAIN message is authzid NUL authcid NUL passwd, base64 in AUTH PLAIN (RFC 4954 §4).
    const plain = Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64');
    const s = await server({
      onAuth(auth, _session, cb) {
        cb(
          Object.assign(
            new Error(`5.7.8 Authentication failed for ${auth.username}:${auth.password} (${plain})\u0007 ${'x'.repeat(600)}`),
            { responseCode: 535 },
          ),
        );
      },
    });
    const err = await failure(
      new EmailAdapter(FAST).send(outbox(), `smtp://${user}:${encodeURIComponent(pass)}@127.0.0.1:${s.port}`, message()),
    );
    expect(err).toMatchObject({
      code: 'smtp_auth',
      message: 'the SMTP server refused the credentials',
      details: { enhancedStatus: '5.7.8' },
    });
    const reply = err.details.providerReply!;
    expect(reply).toMatch(/^535 5\.7\.8 Authentication failed for \[redacted\]:\[redacted\] \(\[redacted\]\)/);
    for (const secret of [pass, user, plain, plain.replace(/=+$/, ''), Buffer.from(pass).toString('base64')])
      expect(reply).not.toContain(secret);
    expect(reply).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(reply.length).toBeLessThanOrEqual(300);
  });

  it("says nothing of nodemailer's own error codes: a closed port is smtp_unreachable in fixed words", async () => {
    const closed = await silent();
    const port = closed.port;
    await closers.pop()!();
    const err = await failure(new EmailAdapter(FAST).send(outbox(), `smtp://127.0.0.1:${port}`, message()));
    expect(err).toMatchObject({ code: 'smtp_unreachable', message: 'the SMTP server could not be reached', details: {} });
  });
});

describe('SMTP connection set-up', () => {
  it('needs no valid certificate on IPv6 loopback, written [::1] in the URL, as on 127.0.0.1', async () => {
    // STARTTLS offered with smtp-server's own self-signed certificate.
    const s = await server({ disabledCommands: [] }, '::1');
    await new EmailAdapter(FAST).send(outbox(), `smtp://[::1]:${s.port}`, message());
    expect(s.received).toHaveLength(1);
  });

  /** A restricted policy whose resolver answers `mail.acme.example` with these addresses, all allowed. */
  const policyResolving = (addresses: string[], delayMs = 0) => {
    const resolve: Resolve = async () => {
      await new Promise((r) => setTimeout(r, delayMs));
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    return egressPolicy({ restricted: true, allow: parseEgressAllow('127.0.0.0/8,::1/128'), resolve });
  };

  it('tries the checked addresses in turn: the first refusing the connection, the second delivers', async () => {
    const s = await server({});
    // Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only): that connect is refused.
    await new EmailAdapter(FAST, policyResolving(['127.0.0.2', '127.0.0.1'])).send(
      outbox(),
      `smtp://mail.acme.example:${s.port}`,
      message(),
    );
    expect(s.received).toHaveLength(1);
  });

  it('dials IPv4 before IPv6, whatever order DNS gave them in', async () => {
    const s = await server({});
    // The same port on ::1 accepts the connection and never greets: dialled first, the send would time out.
    await silent('::1', s.port);
    await new EmailAdapter(FAST, policyResolving(['::1', '127.0.0.1'])).send(outbox(), `smtp://mail.acme.example:${s.port}`, message());
    expect(s.received).toHaveLength(1);
  });

  it('bounds the whole set-up (our DNS check, the connect, the greeting) by one CRM_SMTP_CONNECT_TIMEOUT_MS', async () => {
    const stalled = await silent();
    const timeouts = { connectMs: 1_200, greetingMs: 1_200, socketMs: 5_000 };
    const started = Date.now();
    const err = await failure(
      new EmailAdapter(timeouts, policyResolving(['127.0.0.1'], 700)).send(outbox(), `smtp://mail.acme.example:${stalled.port}`, message()),
    );
    const took = Date.now() - started;
    expect(err.code).toBe('smtp_unreachable');
    // Two budgets in a row would take 700 + 1,200 ms.
    expect(took).toBeGreaterThanOrEqual(1_150);
    expect(took).toBeLessThan(1_700);
  });
});

describe('a visible unsubscribe link and List-Id', () => {
  const LINK = 'https://crm.example.com/unsubscribe/tok_A-1';

  it('puts the link where the body says {{unsubscribeUrl}}, in text and (escaped for an attribute) in html', () => {
    const odd = "https://crm.example.com/u/\"><script>x</script>&a='1'";
    const out = withUnsubscribeLink(
      { subject: 's', text: 'Bye: {{unsubscribeUrl}}', html: '<a href="{{unsubscribeUrl}}">leave</a> {{unsubscribeUrl}}' },
      odd,
      undefined,
    );
    expect(out.text).toBe(`Bye: ${odd}`);
    expect(out.html).toBe(
      '<a href="https://crm.example.com/u/&quot;&gt;&lt;script&gt;x&lt;/script&gt;&amp;a=&#39;1&#39;">leave</a> https://crm.example.com/u/&quot;&gt;&lt;script&gt;x&lt;/script&gt;&amp;a=&#39;1&#39;',
    );
  });

  it('appends the footer to a part without the placeholder (html: before </body>), only when the outbox asks', () => {
    const body = { subject: 's', text: 'Hi', html: '<html><body><p>Hi</p></body></html>' };
    expect(withUnsubscribeLink(body, LINK, undefined)).toEqual(body);
    const out = withUnsubscribeLink(body, LINK, true);
    expect(out.text).toMatch(new RegExp(`^Hi\\n\\n--\\n.*unsubscribe: ${LINK}\\n$`));
    expect(out.html).toMatch(new RegExp(`^<html><body><p>Hi</p><p[^>]*>.*<a href="${LINK}">unsubscribe</a>.*</p></body></html>$`));
    const own = withUnsubscribeLink({ subject: 's', text: 'Hi {{unsubscribeUrl}}', html: '<p>Hi</p>' }, LINK, {
      html: '<small><a href="{{unsubscribeUrl}}">Stop</a></small>',
    });
    expect(own).toEqual({ subject: 's', text: `Hi ${LINK}`, html: `<p>Hi</p><small><a href="${LINK}">Stop</a></small>` });
  });

  it('without a link (nothing to point at) drops the placeholder and adds no footer', () => {
    expect(withUnsubscribeLink({ subject: 's', text: 'Hi {{unsubscribeUrl}}' }, undefined, true)).toEqual({ subject: 's', text: 'Hi ' });
  });

  it('sends the link in the body, the RFC 8058 headers and an RFC 2919 List-Id', async () => {
    const s = await server({});
    const adapter = new EmailAdapter(FAST);
    await adapter.send(
      outbox({ unsubscribeFooter: true }),
      `smtp://127.0.0.1:${s.port}`,
      message({ subject: 'Hello', text: 'Hi Ana', html: '<p>Hi Ana</p>' }, LINK),
    );
    const mail = decoded(s.received[0]!);
    expect(mail).toMatch(new RegExp(`^List-Unsubscribe: <${LINK}>\r?$`, 'm'));
    expect(mail).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    // RFC 2919 §3: List-Id: [phrase] "<" list-label "." list-id-namespace ">".
    expect(mail).toMatch(new RegExp(`^List-Id: "Acme Sales" <${OUTBOX_ID}\\.acme\\.example>\r?$`, 'im'));
    expect(mail).toContain(`unsubscribe: ${LINK}`);
    expect(mail).toContain(`<a href="${LINK}">unsubscribe</a>`);

    await adapter.send(
      outbox({ listId: 'news.acme.example', fromName: undefined }),
      `smtp://127.0.0.1:${s.port}`,
      message(undefined, LINK),
    );
    expect(decoded(s.received[1]!)).toMatch(/^List-Id: <news\.acme\.example>\r?$/im);
  });

  it("names the message after its activity (Message-ID and the provider's id), and hands the server the envelope it was given", async () => {
    const envelopes: string[] = [];
    const s = await server({
      onMailFrom(address, _session, cb) {
        envelopes.push(`from ${address.address}`);
        cb();
      },
      onRcptTo(address, _session, cb) {
        envelopes.push(`to ${address.address}`);
        cb();
      },
    });
    const adapter = new EmailAdapter(FAST);
    const sent = await adapter.send(outbox(), `smtp://127.0.0.1:${s.port}`, {
      ...message(),
      activityId: '5d1c0e9a-7b7e-4f1e-9d43-0a3c2b1f9e77',
    });
    expect(sent.providerMessageId).toBe('<5d1c0e9a-7b7e-4f1e-9d43-0a3c2b1f9e77@acme.example>');
    expect(decoded(s.received[0]!)).toMatch(/^Message-ID: <5d1c0e9a-7b7e-4f1e-9d43-0a3c2b1f9e77@acme\.example>\r?$/im);
    expect(envelopes).toEqual(['from sales@acme.example', 'to ana@client.example']);
    adapter.close();
  });

  it('validates the outbox options', () => {
    const ok = (config: Record<string, unknown>) => OUTBOX_CONFIG.email.safeParse({ fromAddress: 'sales@acme.example', ...config }).success;
    expect(ok({ unsubscribeFooter: true, listId: 'news.acme.example' })).toBe(true);
    expect(ok({ unsubscribeFooter: { text: 'Stop: {{unsubscribeUrl}}' } })).toBe(true);
    for (const bad of [
      { unsubscribeFooter: false },
      { unsubscribeFooter: {} },
      { unsubscribeFooter: { text: 'no link here' } },
      { unsubscribeFooter: { html: `<a href="{{unsubscribeUrl}}">x</a>${'x'.repeat(4_000)}` } },
      { unsubscribeFooter: { text: 'Stop: {{unsubscribeUrl}}', extra: 1 } },
      { listId: 'nodot' },
      { listId: 'has space.example' },
      { listId: '<news.acme.example>' },
      { listId: `${'a'.repeat(250)}.example` },
    ]) {
      expect(ok(bad), JSON.stringify(bad).slice(0, 80)).toBe(false);
    }
  });
});
