import { type AddressInfo, type Socket, createServer } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server in this process, on loopback, recording what it accepts. */
/**
 * `delayMs`: how long each message's DATA waits for its answer (a slow server, for tests that act mid-run);
 * `serverOptions`: smtp-server's own, over these (a test's own refusal, a short socket timeout).
 */
export async function smtpServer(opts: { rejectRecipients?: string[]; delayMs?: number; serverOptions?: Partial<SMTPServerOptions> } = {}) {
  let connections = 0;
  let open = 0;
  const messages: ReceivedMail[] = [];
  /** Every RCPT TO address the server was given, accepted or not: what a send tried to reach. */
  const rcpts: string[] = [];
  const rejected = new Set((opts.rejectRecipients ?? []).map((r) => r.toLowerCase()));
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // The service pools its SMTP connections: at the end of a test, close them rather than wait 30 s for them.
    closeTimeout: 100,
    onConnect(_session, cb) {
      connections++;
      open++;
      cb();
    },
    onClose() {
      open--;
    },
    onAuth(auth, _session, cb) {
      if (auth.username === 'mailer' && auth.password === 'mail-pass') cb(null, { user: auth.username });
      else cb(new Error('invalid credentials'));
    },
    onRcptTo(address, _session, cb) {
      rcpts.push(address.address);
      if (rejected.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error('no such mailbox'), { responseCode: 550 });
        cb(err);
        return;
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        if (opts.delayMs) setTimeout(() => cb(), opts.delayMs);
        else cb();
      });
    },
    ...opts.serverOptions,
  });
  // A client that dies mid-session (a test kills the sending process) resets its connection: for a server, an
  // ordinary event, not a crash of the test process.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = (server.server as unknown as { address(): AddressInfo }).address();
  return {
    port,
    url: `smtp://mailer:mail-pass@127.0.0.1:${port}`,
    messages,
    rcpts,
    rejected,
    /** Connections accepted so far, and open now: what a client's pool opened and kept. */
    connections: () => connections,
    open: () => open,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A mail server that accepts TCP connections and never sends its greeting (a stalled or tarpitting MTA).
 * `close` drops the connections it holds.
 */
export async function silentSmtpServer() {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `smtp://mailer:mail-pass@127.0.0.1:${port}`,
    /** Connections held open now. */
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
