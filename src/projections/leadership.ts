import type { Db, Queryable } from '../sql/db.js';

/**
 * Session-level advisory locks, one per projection, held on one dedicated connection. A lock only saves
 * wasted work: correctness between instances comes from the checkpoint row lock in every batch.
 */
export class Leadership {
  private held = new Set<string>();
  private stopped = false;
  private session: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly db: Db,
    private readonly names: string[],
    private readonly retryMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly onRecovered?: () => void,
    /** Told when locks were taken, so that their holders start now rather than at their next poll. */
    private readonly onGained?: () => void,
  ) {}

  isLeader(name: string): boolean {
    return this.held.has(name);
  }

  start(): void {
    this.stopped = false;
    const loop = async () => {
      // Told once per outage, not at every retry while the database is away.
      let failing = false;
      while (!this.stopped) {
        try {
          await this.db.session((s) =>
            this.holdLocks(s, () => {
              if (failing) this.onRecovered?.();
              failing = false;
            }),
          );
        } catch (err) {
          this.held.clear();
          if (!this.stopped && !failing) this.onError(err);
          failing = true;
        }
        if (!this.stopped) await this.sleep(this.retryMs);
      }
    };
    this.session = loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.session;
    this.held.clear();
  }

  private async holdLocks(s: Queryable, onAlive: () => void): Promise<void> {
    try {
      while (!this.stopped) {
        const wanted = this.names.filter((n) => !this.held.has(n));
        // One statement for every lock not held: the loops it frees start together (and read and commit their
        // first batch together), not one round trip apart. With none wanted it is still a round trip, which
        // proves the connection alive: a dead one throws, and we stop believing we lead.
        const { rows } = await s.query<{ name: string; ok: boolean }>(
          `SELECT name, pg_try_advisory_lock(hashtext('crm_projection'), hashtext(name)) AS ok FROM unnest($1::text[]) AS name`,
          [wanted],
        );
        const gained = rows.filter((r) => r.ok).map((r) => r.name);
        for (const name of gained) this.held.add(name);
        onAlive();
        if (gained.length > 0) this.onGained?.();
        await this.sleep(this.retryMs);
      }
    } finally {
      if (this.held.size > 0) {
        await s.query(`SELECT pg_advisory_unlock_all()`).catch(() => {});
      }
      this.held.clear();
    }
  }

  /** A sleep that `stop` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
