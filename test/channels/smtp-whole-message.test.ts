import nodemailer from 'nodemailer';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { wholeMessage } from '../../src/channels/smtp-whole-message.js';

/** The chunks a transport hands on for one two-part message (nodemailer's stream transport: what SMTP would write). */
async function chunksOf(withPlugin: boolean): Promise<Buffer[]> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: false });
  if (withPlugin) transport.use('stream', wholeMessage);
  const info = await transport.sendMail({
    from: 'ops@example.com',
    to: 'someone@example.com',
    subject: 'hello',
    text: 'plain body',
    html: '<p>html body</p>',
    messageId: '<fixed@example.com>',
    date: new Date('2026-12-04T00:00:00Z'),
  });
  const chunks: Buffer[] = [];
  for await (const c of info.message as unknown as Readable) chunks.push(c as Buffer);
  return chunks;
}

const normalised = (chunks: Buffer[]) =>
  Buffer.concat(chunks)
    .toString()
    .replace(/--_NmP-[0-9a-f]+-Part_\d+/g, 'BOUNDARY');

describe('wholeMessage (nodemailer plugin)', () => {
  it('hands a multipart message on in one chunk, byte for byte the message nodemailer builds', async () => {
    const plain = await chunksOf(false);
    const whole = await chunksOf(true);
    expect(plain.length).toBeGreaterThan(1); // what the plugin is for: nodemailer streams part by part
    expect(whole).toHaveLength(1);
    expect(normalised(whole)).toBe(normalised(plain));
    expect(normalised(whole)).toContain('plain body');
    expect(normalised(whole)).toContain('<p>html body</p>');
  });

  it('a failing source fails the message instead of sending a part of it', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
    transport.use('stream', wholeMessage);
    await expect(
      transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: { path: '/nonexistent/file/for/the/test' } }),
    ).rejects.toThrow(/ENOENT/);
  });
});
