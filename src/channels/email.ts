import type { Socket } from 'node:net';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { isLoopbackHost } from '../config.js';
import { type EgressPolicy, EgressRefusedError, UNRESTRICTED } from './egress.js';
import { type UnsubscribeFooter, listId, senderDomain, unsubscribeHeaders, withUnsubscribeLink } from './email-unsubscribe.js';
import { enhancedStatusOf, keptReply } from './smtp-reply.js';
import { type SmtpPoolOptions, SmtpPools } from './smtp-pools.js';
import { connectError, connectFirst, dialOrder } from './smtp-socket.js';
import { wholeMessage } from './smtp-whole-message.js';
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
  const enhanced = enhancedStatusOf(e.response);
  // Without an enhanced code only the server's words tell a bad address from a refused relay ("550 relaying
  // denied" would otherwise suppress every recipient it was handed).
  if (!enhanced)
    return (
      e.responseCode !== 550 ||
      /\b(user|mailbox|recipient|address)\b.{0,40}\b(unknown|not found|does not exist|doesn't exist|no such|invalid|unavailable|disabled)\b|\bno such (user|mailbox|recipient)\b/i.test(
        e.response ?? '',
      )
    );
  const [cls, subject, detail] = enhanced.split('.');
  return cls === '5' && (subject === '1' || (subject === '2' && detail === '1'));
}

type SmtpCredential = { user: string; pass: string } | undefined;

/**
 * Why an SMTP send failed, as a code for the activity. A server's reply is kept (redacted, see smtp-reply.ts);
 * without one the words are fixed: nodemailer's error codes would only repeat what the code says.
 */
function classify(err: unknown, credential: SmtpCredential): ChannelError {
  if (err instanceof ChannelError) return err;
  const e = err as { code?: string; responseCode?: number; command?: string; response?: string };
  const reply = typeof e.responseCode === 'number' ? keptReply(e.response, credential) : undefined;
  const enhancedStatus = enhancedStatusOf(e.response);
  const details = { ...(reply ? { providerReply: reply } : {}), ...(enhancedStatus ? { enhancedStatus } : {}) };
  // Before the reply code: a refused login answers 535, which is not the message's fault.
  if (e.code === 'EAUTH') return new ChannelError('smtp_auth', 'the SMTP server refused the credentials', false, true, false, details);
  if (typeof e.responseCode === 'number') {
    const transient = e.responseCode >= 400 && e.responseCode < 500;
    const what = e.command === 'RCPT TO' || e.code === 'EENVELOPE' ? 'recipient refused' : 'message refused';
    return new ChannelError(
      `smtp_${e.responseCode}`,
      `the SMTP server answered ${e.responseCode}: ${what}`,
      transient,
      true,
      isHardBounce(e),
      details,
    );
  }
  // Once the message was being handed over, a lost connection leaves its fate unknown: no refund.
  if ((e.code === 'ETIMEDOUT' || e.code === 'ESOCKET') && e.command === 'DATA') {
    return new ChannelError('smtp_outcome_unknown', 'the SMTP connection was lost while the message was being sent', false, false);
  }
  if (e.code === 'ETIMEDOUT' || e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'EDNS') {
    return new ChannelError('smtp_unreachable', 'the SMTP server could not be reached', true);
  }
  return new ChannelError('smtp_error', 'the SMTP send failed');
}

/** What an outbox's config says about its mail (OUTBOX_CONFIG.email validated it). */
interface EmailOutboxConfig {
  fromAddress: string;
  fromName?: string;
  replyTo?: string;
  listId?: string;
  unsubscribeFooter?: UnsubscribeFooter;
}

/**
 * Email over SMTP with nodemailer. The credential is an SMTP URL (`smtp://user:pass@host:port` or `smtps://`).
 * Connections are pooled per credential value (`SmtpPools`): a session set-up (and against a real provider a
 * TLS handshake) per message cost three quarters of the throughput; a rotated secret gets a new pool.
 */
export class EmailAdapter implements ChannelAdapter {
  constructor(
    private readonly timeouts: SmtpTimeouts = DEFAULT_SMTP_TIMEOUTS,
    /** Which addresses the SMTP host may resolve to; the runtime passes the instance's. */
    private readonly egress: EgressPolicy = UNRESTRICTED,
    private readonly pools: SmtpPools = new SmtpPools(),
  ) {}

  /** Closes every pooled connection (a test's or a bench's adapter of its own). */
  close(): void {
    this.pools.close();
  }

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
    const auth = url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined;
    const create = (pool: SmtpPoolOptions) =>
      nodemailer
        .createTransport({
          pool: true,
          maxConnections: pool.maxConnections,
          // A connection is given this many messages, then replaced (nodemailer's default is 100).
          maxMessages: 1000,
          idleTimeout: pool.idleMs,
          // Requeued only when not a byte of the message went out (a connection the server dropped while idle):
          // once one did, the message's fate is the send's own error, never a second copy.
          maxRequeues: 1,
          // The host's name stays nodemailer's host: TLS checks the certificate against it, whichever address was dialled.
          host,
          port,
          secure: url.protocol === 'smtps:',
          auth,
          // Plain SMTP to loopback (tests, local relays) needs no TLS; anywhere else STARTTLS is used when offered.
          tls: { rejectUnauthorized: !isLoopbackHost(host) },
          // From the start of the send: our DNS check and connect (getSocket), the greeting and STARTTLS, one budget.
          connectionTimeout: this.timeouts.connectMs,
          greetingTimeout: this.timeouts.greetingMs,
          socketTimeout: this.timeouts.socketMs,
          getSocket: (
            options: SMTPTransport.Options,
            callback: (err: Error | null, socketOptions: { connection: Socket } | false) => void,
          ) => {
            // nodemailer's own connection deadline runs from this moment too (it passes it to proxies for that).
            const startedAt = (options as { connectStartedAt?: number }).connectStartedAt ?? Date.now();
            this.checkedSocket(host, port, startedAt + this.timeouts.connectMs).then(
              (connection) => callback(null, connection ? { connection } : false),
              (err: unknown) => callback(err as Error, false),
            );
          },
        })
        .use('stream', wholeMessage);
    const cfg = outbox.config as unknown as EmailOutboxConfig;
    const p = withUnsubscribeLink(
      message.payload as { subject: string; text?: string; html?: string; headers?: Record<string, string> },
      message.unsubscribeUrl,
      cfg.unsubscribeFooter,
    );
    try {
      // A place waits as long as a connection may take to set up: past it, the server is as good as unreachable.
      const info = await this.pools.run(credential, create, this.timeouts.connectMs, (transport) =>
        transport.sendMail({
          from: cfg.fromName ? { name: cfg.fromName, address: cfg.fromAddress } : cfg.fromAddress,
          to: message.to,
          // The activity's own: a copy the server takes twice (a retry after a lost reply) carries the same id,
          // which receivers deduplicate on, and a bounce or a reply names the activity (In-Reply-To). Nodemailer
          // would draw a random one per message.
          messageId: messageIdOf(message.activityId, cfg.fromAddress),
          // Said, not parsed again out of the headers just built.
          envelope: { from: cfg.fromAddress, to: [message.to] },
          replyTo: cfg.replyTo,
          subject: p.subject,
          text: p.text,
          html: p.html,
          list: { id: listId(cfg, outbox.outboxId) },
          headers: {
            'X-CRM-Activity-Id': message.activityId,
            ...(p.headers ?? {}),
            ...unsubscribeHeaders(message.unsubscribeUrl),
          },
        }),
      );
      return { providerMessageId: typeof info.messageId === 'string' ? info.messageId : null };
    } catch (err) {
      throw classify(err, auth);
    }
  }

  /**
   * The connection to dial when the egress policy restricts the host: to its checked addresses (IPv4 first,
   * then in turn) before `deadline`. Null when no restriction applies: nodemailer resolves and dials the host.
   */
  private async checkedSocket(host: string, port: number, deadline: number): Promise<Socket | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(connectError('DNS timeout', 'ETIMEDOUT')), Math.max(deadline - Date.now(), 0));
    });
    let found: { address: string; family: number }[] | null;
    try {
      found = await Promise.race([this.egress.addressesFor(host, port), timeout]);
    } catch (err) {
      if (err instanceof EgressRefusedError) throw new ChannelError('egress_refused', `the SMTP server: ${err.message}`, false, true);
      // As nodemailer reports a failed lookup of its own.
      throw classify({ code: 'EDNS' }, undefined);
    } finally {
      clearTimeout(timer);
    }
    if (!found) return null;
    return connectFirst(
      dialOrder(found).map((a) => a.address),
      port,
      deadline,
    );
  }
}

/** RFC 5322 §3.6.4: `<id-left@id-right>`, unique world-wide: the activity's UUID at the sender's domain. */
export function messageIdOf(activityId: string, fromAddress: string): string {
  return `<${activityId}@${senderDomain(fromAddress)}>`;
}

export const emailAdapter: ChannelAdapter = new EmailAdapter();
