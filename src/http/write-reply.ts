import type { Response } from 'express';
import { type Position, formatPosition } from '../eventstore/port.js';
import type { Runtime } from '../runtime.js';

const READ_YOUR_WRITES_TIMEOUT_MS = 5000;

/**
 * Replies to a command once the read models include its events, so that the client's next query sees its
 * own write (bounded: the write is durable either way). The position goes out as `X-CRM-Position`.
 */
export async function replyAfterWrite(
  rt: Runtime,
  res: Response,
  position: Position | null,
  status: number,
  /** The reply body, or a function that reads it from the read models once they include the write. */
  body?: unknown,
): Promise<void> {
  let caughtUp = true;
  if (position) {
    res.setHeader('X-CRM-Position', formatPosition(position));
    caughtUp = await rt.engine.waitFor(position, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS });
    if (!caughtUp) rt.logger.warn('read models lag behind a write', { position: formatPosition(position) });
  }
  const payload = typeof body === 'function' ? await (body as () => Promise<unknown>)() : body;
  if (!caughtUp && (payload === null || payload === undefined) && status !== 204) {
    // Recorded, but not yet readable: say so rather than answer with nothing (a retry would write twice).
    res
      .status(202)
      .json({ status: 'accepted', position: formatPosition(position!), message: 'recorded; the read models have not caught up yet' });
    return;
  }
  if (payload === undefined) res.status(status).end();
  else res.status(status).json(payload);
}
