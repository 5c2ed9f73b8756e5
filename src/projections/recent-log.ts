import { type Position, type RecordedEvent, comparePositions } from '../eventstore/port.js';

/**
 * The last stretch of the log the engine read, kept so that projection loops at other positions inside it are
 * served from memory instead of reading the log again (under load the loops drift apart by a batch or two,
 * and each read costs a query and a horizon). A stretch is only ever built from reads of the log, each of
 * which is complete between its `after` and its last event, so what it serves is exactly the log there.
 */
export class RecentLog {
  private events: RecordedEvent[] = [];
  /** Exclusive start of the stretch. */
  private from: Position | null = null;

  constructor(private readonly max: number) {}

  /** Up to `limit` events after `after`, if `after` lies inside the stretch (not at its end); else null. */
  after(after: Position, limit: number): RecordedEvent[] | null {
    const end = this.events.at(-1)?.position;
    if (!this.from || !end || comparePositions(after, this.from) < 0 || comparePositions(after, end) >= 0) return null;
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (comparePositions(this.events[mid]!.position, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo, lo + limit);
  }

  /** Records a read of the log: `events` are all of it after `after`, up to their last. */
  add(after: Position, events: RecordedEvent[]): void {
    if (events.length === 0) return;
    const end = this.events.at(-1)?.position;
    if (this.from && end && comparePositions(after, this.from) >= 0 && comparePositions(after, end) <= 0) {
      // Starts inside the stretch or at its end: what lies beyond the end continues it.
      for (const e of events) if (comparePositions(e.position, end) > 0) this.events.push(e);
    } else {
      this.events = [...events];
      this.from = after;
    }
    if (this.events.length > this.max) {
      const drop = this.events.length - this.max;
      this.from = this.events[drop - 1]!.position;
      this.events = this.events.slice(drop);
    }
  }
}
