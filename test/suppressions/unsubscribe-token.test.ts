import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isHardBounce } from '../../src/channels/email.js';
import { redact } from '../../src/logger.js';
import { masterKeyFrom } from '../../src/secrets/crypto.js';
import { unsubscribeTokens } from '../../src/secrets/unsubscribe-token.js';

const master = masterKeyFrom(Buffer.alloc(32, 7));
const tokens = unsubscribeTokens(master);
const subject = { companyId: '6f1f3c1e-0000-4000-8000-000000000001', recipient: 'ana@example.org', channel: 'email' as const };

describe('unsubscribe tokens', () => {
  it('round-trip, are URL-safe, differ each time and reveal neither company nor address', () => {
    const a = tokens.issue(subject);
    const b = tokens.issue(subject);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(tokens.verify(a)).toEqual(subject);
    expect(tokens.verify(b)).toEqual(subject);
    const decoded = Buffer.from(a, 'base64url').toString('latin1');
    expect(decoded).not.toContain('ana@');
    expect(decoded).not.toContain(subject.companyId);
  });

  it('refuses tampered, truncated, forged, foreign-key and malformed tokens', () => {
    const good = tokens.issue(subject);
    const raw = Buffer.from(good, 'base64url');
    const flipped = (i: number) => {
      const copy = Buffer.from(raw);
      copy[i] = copy[i]! ^ 0x01;
      return copy.toString('base64url');
    };
    const bad = [
      flipped(0), // version
      flipped(5), // IV
      flipped(20), // tag
      flipped(raw.length - 1), // ciphertext
      good.slice(0, -2),
      `${good}A`,
      randomBytes(raw.length).toString('base64url'),
      unsubscribeTokens(masterKeyFrom(Buffer.alloc(32, 8))).issue(subject),
      '',
      'not a token',
      `${good}==`,
      'A'.repeat(5000),
    ];
    for (const t of bad) expect(tokens.verify(t), t.slice(0, 40)).toBeNull();
  });
});

describe('unsubscribe tokens in logs', () => {
  it('are masked wherever a path is logged', () => {
    const token = tokens.issue(subject);
    expect(redact({ path: `/unsubscribe/${token}` })).toEqual({ path: '/unsubscribe/[redacted]' });
    expect(redact(`POST http://crm.example.com/base/unsubscribe/${token} failed`)).toBe(
      'POST http://crm.example.com/base/unsubscribe/[redacted] failed',
    );
  });
});

describe('hard bounces', () => {
  it.each([
    [{ command: 'RCPT TO', responseCode: 550, response: '550 no such mailbox' }, true],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 <a@b.c>: Recipient address rejected' }, true],
    [{ command: 'RCPT TO', responseCode: 550, response: '550-5.2.1 The email account is disabled' }, true],
    [{ command: 'RCPT TO', responseCode: 551, response: '551 User not local' }, true],
    [{ command: 'RCPT TO', responseCode: 553, response: '553 5.1.3 Bad recipient address syntax' }, true],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 Requested action not taken: mailbox unavailable' }, true],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 relaying denied' }, false],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 Access denied - Invalid HELO name' }, false],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 5.7.1 Client host blocked' }, false],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 5.2.2 Mailbox full' }, false],
    [{ command: 'RCPT TO', responseCode: 550, response: '550 5.4.1 Recipient address rejected: Access denied' }, false],
    [{ command: 'RCPT TO', responseCode: 552, response: '552 Mailbox full' }, false],
    [{ command: 'RCPT TO', responseCode: 554, response: '554 Transaction failed' }, false],
    [{ command: 'RCPT TO', responseCode: 450, response: '450 4.2.0 Try later' }, false],
    [{ command: 'MAIL FROM', responseCode: 550, response: '550 Sender rejected' }, false],
    [{ command: 'DATA', responseCode: 550, response: '550 Message refused' }, false],
  ])('%o -> %s', (err, expected) => {
    expect(isHardBounce(err)).toBe(expected);
  });
});
