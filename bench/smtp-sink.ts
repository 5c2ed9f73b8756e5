/**
 * A loopback SMTP server in a process of its own, for `bench:http`: the tests' SMTP server (test/support/smtp.ts),
 * which accepts every login. Prints `{"port": N}` once listening; answers `count` on stdin with what it received.
 */
import { createInterface } from 'node:readline';
import { smtpServer } from '../test/support/smtp.js';

const smtp = await smtpServer({ serverOptions: { onAuth: (auth, _session, cb) => cb(null, { user: auth.username }) } });
process.stdout.write(`${JSON.stringify({ port: smtp.port })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'count') return;
  const byRecipient = new Map<string, number>();
  for (const m of smtp.messages) for (const r of m.to) byRecipient.set(r, (byRecipient.get(r) ?? 0) + 1);
  const doubled = [...byRecipient.values()].filter((n) => n > 1).length;
  process.stdout.write(
    `${JSON.stringify({ messages: smtp.messages.length, recipients: byRecipient.size, doubled, connections: smtp.connections() })}\n`,
  );
});
process.stdin.on('end', () => void smtp.close().then(() => process.exit(0)));
