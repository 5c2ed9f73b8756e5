import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import { type EgressPolicy, EgressRefusedError, UNRESTRICTED } from './egress.js';
import { type ChannelAdapter, ChannelError, type OutboxForAdapter, type OutgoingMessage } from './port.js';

/** How long an SMTP send waits (ms), as nodemailer counts it. */
export interface SmtpTimeouts {
  /** The whole session set-up: DNS lookup, TCP connect, the greeting and a STARTTLS upgrade (`connectionTimeout`). */
  connectMs: number;
  /** Of that, for the server's greeting once connected (`greetingTimeout`). */
  greetingMs: number;
  /** Silence on the connection once the session is set up (`socketTimeout`). */
  socketMs: number;
}

/**
 * Short set-up waits: a server that accepts the connection and never greets (or a black-holed address) holds
 * a dispatcher slot until they expire, and since nothing was sent the unit is refunded and the same send can
 * hold a slot again at no cost. The greeting gets 8 s: Postfix's postscreen may hold it back for 6 s.
 */
export const DEFAULT_SMTP_TIMEOUTS: SmtpTimeouts = { connectMs: 10_000, greetingMs: 8_000, socketMs: 30_000 };

/** Reply codes that refuse the mailbox itself: 550 unavailable, 551 not local, 553 name not allowed. */
const HARD_BOUNCE_CODES = new Set([550, 551, 553]);

/**
 * A permanent refusal of the recipient (not of the sender, the message or the server's mood). When the reply
 * carries an enhanced status code (RFC 3463) it decides: 5.1.x (bad address) and 5.2.1 (mailbox disabled)
 * are the mailbox's fault; 5.7.x (policy, e.g. our IP blocklisted), 5.2.2 (mailbox full), 5.3.x and 5.4.x
 * (the receiving system, routing) say nothing about the address and must not suppress it.
 */
export function isHardBounce(e: { command?: string; responseCode?: number; response?: string }): boolean {
  if (e.command !== 'RCPT TO' || !HARD_BOUNCE_CODES.has(e.responseCode ?? 0)) return false;
  const enhanced = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(e.response ?? '');
  // Without an enhanced code only the server's words tell a bad address from a refused relay ("550 relaying
  // denied" would otherwise suppress every recipient it was handed).
  if (!enhanced) return e.responseCode !== 550 || /\b(user|mailbox|recipient|address)\b.{0,40}\b(unknown|not found|does not exist|doesn't exist|no such|invalid|unavailable|disabled)\b|\bno such (user|mailbox|recipient)\b/i.test(e.response ?? '');
  const [, cls, subject, detail] = enhanced;
  return cls === '5' && (subject === '1' || (subject === '2' && detail === '1'));
}

/** Why an SMTP send failed, as a code for the activity (never the credential or the server's full reply). */
function classify(err: unknown): ChannelError {
  const e = err as { code?: string; responseCode?: number; command?: string; response?: string };
  if (typeof e.responseCode === 'number') {
    const transient = e.responseCode >= 400 && e.responseCode < 500;
    const what = e.command === 'RCPT TO' || e.code === 'EENVELOPE' ? 'recipient refused' : 'message refused';
    return new ChannelError(`smtp_${e.responseCode}`, `the SMTP server answered ${e.responseCode}: ${what}`, transient, true, isHardBounce(e));
  }
  if (e.code === 'EAUTH') return new ChannelError('smtp_auth', 'the SMTP server refused the credentials');
  // Once the message was being handed over, a lost connection leaves its fate unknown: no refund.
  if ((e.code === 'ETIMEDOUT' || e.code === 'ESOCKET') && e.command === 'DATA') {
    return new ChannelError('smtp_outcome_unknown', `the SMTP connection was lost while the message was being sent (${e.code})`, false, false);
  }
  if (e.code === 'ETIMEDOUT' || e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'EDNS') {
    return new ChannelError('smtp_unreachable', `the SMTP server could not be reached (${e.code})`, true);
  }
  return new ChannelError('smtp_error', 'the SMTP send failed');
}

/** RFC 8058 one-click unsubscribe: the link, and the POST that mail providers make on the user's behalf. */
function unsubscribeHeaders(url: string | undefined): Record<string, string> {
  if (!url) return {};
  return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

/**
 * Email over SMTP with nodemailer. The credential is an SMTP URL (`smtp://user:pass@host:port` or `smtps://`).
 * One connection per send: outboxes are few, and no pooled connection outlives a rotated secret.
 */
export class EmailAdapter implements ChannelAdapter {
  constructor(
    private readonly timeouts: SmtpTimeouts = DEFAULT_SMTP_TIMEOUTS,
    /** Which addresses the SMTP host may resolve to; the runtime passes the instance's. */
    private readonly egress: EgressPolicy = UNRESTRICTED,
  ) {}

  async send(outbox: OutboxForAdapter, credential: string, message: OutgoingMessage) {
    let url: URL;
    try {
      url = new URL(credential);
    } catch {
      throw new ChannelError('smtp_credential_invalid', 'the SMTP credential is not an smtp:// or smtps:// URL');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      throw new ChannelError('smtp_credential_invalid', 'the SMTP credential is not an smtp:// or smtps:// URL');
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587;
    const dial = await this.checkedAddress(host, port);
    const transport = nodemailer.createTransport({
      // The checked address is dialled (no second lookup that could answer otherwise); TLS still checks the name.
      host: dial,
      ...(dial !== host && !isIP(host) ? { servername: host } : {}),
      port,
      secure: url.protocol === 'smtps:',
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      // Plain SMTP to loopback (tests, local relays) needs no TLS; anywhere else STARTTLS is used when offered.
      tls: { rejectUnauthorized: !['127.0.0.1', 'localhost', '::1'].includes(url.hostname) },
      connectionTimeout: this.timeouts.connectMs,
      greetingTimeout: this.timeouts.greetingMs,
      socketTimeout: this.timeouts.socketMs,
    });
    const cfg = outbox.config as { fromAddress: string; fromName?: string; replyTo?: string };
    const p = message.payload as { subject: string; text?: string; html?: string; headers?: Record<string, string> };
    try {
      const info = await transport.sendMail({
        from: cfg.fromName ? { name: cfg.fromName, address: cfg.fromAddress } : cfg.fromAddress,
        to: message.to,
        replyTo: cfg.replyTo,
        subject: p.subject,
        text: p.text,
        html: p.html,
        headers: { 'X-CRM-Activity-Id': message.activityId, ...(p.headers ?? {}), ...unsubscribeHeaders(message.unsubscribeUrl) },
      });
      return { providerMessageId: typeof info.messageId === 'string' ? info.messageId : null };
    } catch (err) {
      throw classify(err);
    } finally {
      transport.close();
    }
  }

  /** The address to connect to: the host itself when no restriction applies, else one it resolves to that may be dialled. */
  private async checkedAddress(host: string, port: number): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS timeout'), { code: 'ETIMEDOUT' })), this.timeouts.connectMs);
    });
    try {
      const found = await Promise.race([this.egress.addressesFor(host, port), timeout]);
      return found ? found[0]!.address : host;
    } catch (err) {
      if (err instanceof EgressRefusedError) throw new ChannelError('egress_refused', `the SMTP server: ${err.message}`, false, true);
      // As nodemailer reports a failed lookup of its own.
      throw classify({ code: 'EDNS' });
    } finally {
      clearTimeout(timer);
    }
  }
}

export const emailAdapter: ChannelAdapter = new EmailAdapter();
