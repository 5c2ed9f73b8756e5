/**
 * The one SQL port the event store, the projections and the migrations use, so that the same SQL runs on a
 * real PostgreSQL server (`pg`) and on embedded PGlite.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number }>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * The commit does not wait for its WAL to reach the disk (`synchronous_commit = off`): for writes that can be
   * made again from what is durable elsewhere (a projection's rows and checkpoint, replayed from the event log).
   * Visible to every session at once; only a crash of the database can lose it.
   */
  rebuildable?: boolean;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs `fn` on one dedicated connection held for as long as it runs (session-level advisory locks).
   * On PGlite there is only one connection, shared.
   */
  session<T>(fn: (s: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to NOTIFY on `channel` (with the notification's payload; null when woken for notifications
   * that may have been lost); the returned function unsubscribes.
   */
  listen(channel: string, onNotify: (payload: string | null) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
