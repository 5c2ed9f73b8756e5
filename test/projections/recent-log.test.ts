import { describe, expect, it } from 'vitest';
import type { Position, RecordedEvent } from '../../src/eventstore/port.js';
import { RecentLog } from '../../src/projections/recent-log.js';

const at = (n: number): Position => ({ commit: BigInt(n), prepare: BigInt(n) });
const ev = (n: number) => ({ id: `e${n}`, position: at(n) }) as unknown as RecordedEvent;
const ids = (es: RecordedEvent[] | null) => es?.map((e) => e.id) ?? null;

describe('RecentLog', () => {
  it('serves positions inside the stretch it read, never its end or outside it', () => {
    const log = new RecentLog(100);
    expect(log.after(at(0), 10)).toBeNull();
    log.add(at(2), [ev(3), ev(5), ev(8)]);
    expect(ids(log.after(at(2), 10))).toEqual(['e3', 'e5', 'e8']);
    expect(ids(log.after(at(4), 10))).toEqual(['e5', 'e8']); // between two events: nothing lies between them
    expect(ids(log.after(at(3), 1))).toEqual(['e5']);
    expect(log.after(at(8), 10)).toBeNull(); // the end: only the log knows what follows
    expect(log.after(at(1), 10)).toBeNull(); // before the stretch: unknown
  });

  it('a read from its end (or from inside it) extends it; a read elsewhere starts a new one; it keeps at most max', () => {
    const log = new RecentLog(4);
    log.add(at(0), [ev(1), ev(2)]);
    log.add(at(2), [ev(3)]);
    log.add(at(1), [ev(2), ev(3), ev(4)]); // a read that started before the stretch grew
    expect(ids(log.after(at(0), 10))).toEqual(['e1', 'e2', 'e3', 'e4']);
    log.add(at(4), [ev(6)]);
    expect(log.after(at(0), 10)).toBeNull(); // e1 dropped: the stretch now starts after it
    expect(ids(log.after(at(1), 10))).toEqual(['e2', 'e3', 'e4', 'e6']);
    log.add(at(20), [ev(21)]);
    expect(log.after(at(1), 10)).toBeNull();
    expect(ids(log.after(at(20), 10))).toEqual(['e21']);
  });
});
