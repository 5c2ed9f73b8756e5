import { createHash } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import { ChannelError } from './port.js';

/** How the pooled connections of one credential are sized and kept. */
export interface SmtpPoolOptions {
  /** Connections one credential may hold open at once (nodemailer's `maxConnections`), and so sends at once. */
  maxConnections: number;
  /** A pooled connection unused this long is closed (nodemailer's `idleTimeout`), and so is a pool unused that long. */
  idleMs: number;
}

export const DEFAULT_SMTP_POOL: SmtpPoolOptions = { maxConnections: 8, idleMs: 30_000 };

interface Pool {
  transport: Transporter;
  idle: NodeJS.Timeout;
  /** Sends handed to the transport now (at most maxConnections). */
  running: number;
  /** Sends waiting for one of those places, first come first served. */
  waiting: (() => void)[];
}

/**
 * One pooled transport per SMTP credential as it is now: keyed by a hash of the credential's value, so that a
 * rotated secret (a new value) gets a new pool while the old one, no longer asked for, closes once idle. The
 * value itself is never kept as a key.
 *
 * No more sends are handed to a transport than it has connections: nodemailer would queue the rest without a
 * bound, and a send waiting there past its dispatch lease could still go out after the reconciler settled it.
 * A send waits here instead, for at most `waitMs`, and then fails with nothing sent (transient, refundable).
 */
export class SmtpPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: SmtpPoolOptions = DEFAULT_SMTP_POOL) {}

  async run<T>(
    credential: string,
    create: (pool: SmtpPoolOptions) => Transporter,
    waitMs: number,
    send: (transport: Transporter) => Promise<T>,
  ): Promise<T> {
    const key = createHash('sha256').update(credential).digest('base64url');
    let pool = this.pools.get(key);
    if (!pool) {
      const transport = create(this.options);
      // A transport's 'error' with no listener would end the process; each send already gets its own error.
      transport.on('error', () => {});
      pool = { transport, idle: this.idleTimer(key, transport), running: 0, waiting: [] };
      this.pools.set(key, pool);
    }
    pool.idle.refresh();
    await this.place(pool, waitMs);
    try {
      return await send(pool.transport);
    } finally {
      pool.idle.refresh();
      const next = pool.waiting.shift();
      if (next) next();
      else pool.running--;
    }
  }

  /** How many credentials hold a pool now. */
  get size(): number {
    return this.pools.size;
  }

  close(): void {
    for (const { transport, idle } of this.pools.values()) {
      clearTimeout(idle);
      transport.close();
    }
    this.pools.clear();
  }

  /** A place among the transport's sends: at once, or handed over by a send that ends within `waitMs`. */
  private place(pool: Pool, waitMs: number): Promise<void> {
    if (pool.running < this.options.maxConnections) {
      pool.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const take = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        pool.waiting.splice(pool.waiting.indexOf(take), 1);
        reject(new ChannelError('smtp_busy', 'every SMTP connection of this credential stayed busy: nothing was sent', true));
      }, waitMs);
      pool.waiting.push(take);
    });
  }

  // A pool's own connections close when idle; this closes the pool itself (a rotated secret's old one).
  private idleTimer(key: string, transport: Transporter): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const pool = this.pools.get(key);
      if (pool?.transport !== transport) return;
      if (pool.running > 0) {
        timer.refresh();
        return;
      }
      this.pools.delete(key);
      transport.close();
    }, this.options.idleMs);
    timer.unref();
    return timer;
  }
}
