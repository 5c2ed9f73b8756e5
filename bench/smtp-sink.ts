/**
 * A loopback SMTP server in a process of its own, for `bench:http`: accepts every message and counts them by
 * recipient. Prints `{"port": N}` once listening; answers `count` on stdin with the counts so far, as JSON.
 */
import { createInterface } from 'node:readline';
import { SMTPServer } from 'smtp-server';

const byRecipient = new Map<string, number>();
let connections = 0;
const server = new SMTPServer({
  authOptional: true,
  allowInsecureAuth: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  closeTimeout: 100,
  onConnect(_session, cb) {
    connections++;
    cb();
  },
  onAuth(auth, _session, cb) {
    cb(null, { user: auth.username });
  },
  onData(stream, session, cb) {
    stream.on('data', () => {});
    stream.on('end', () => {
      for (const r of session.envelope.rcptTo) byRecipient.set(r.address, (byRecipient.get(r.address) ?? 0) + 1);
      cb();
    });
  },
});
server.on('error', () => {});
server.listen(0, '127.0.0.1', () => {
  const { port } = (server.server as unknown as { address(): { port: number } }).address();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'count') return;
  let messages = 0;
  let doubled = 0;
  for (const n of byRecipient.values()) {
    messages += n;
    if (n > 1) doubled++;
  }
  process.stdout.write(`${JSON.stringify({ messages, recipients: byRecipient.size, doubled, connections })}\n`);
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
