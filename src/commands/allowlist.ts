import { randomUUID } from 'node:crypto';
import { allowlistDecider, allowlistStream } from '../domain/allowlist.js';
import type { SendChannel } from '../domain/channels.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import type { AggregateCache } from './aggregate-cache.js';

// Through the aggregate cache: an allowlist may hold thousands of entries, and reading and folding its whole
// stream for each change made a run of additions quadratic (and slowed every other company's queries).
const allowlist = commandHandlerFor(allowlistDecider, allowlistStream);

export async function addAllowlistEntry(
  aggregates: AggregateCache,
  input: { companyId: string; pattern: string; channel: SendChannel | null; note: string | null },
  actor: Actor,
  now: Date,
) {
  const entryId = randomUUID();
  const { pattern, channel, note } = input;
  const r = await allowlist(aggregates, input.companyId, { actor, now }, (s) => ({
    type: 'AddAllowlistEntry',
    companyId: input.companyId,
    entry: { entryId, pattern, channel, note, createdAt: s.now, createdBy: s.by },
  }));
  return { id: entryId, position: r.position };
}

export const removeAllowlistEntry = (aggregates: AggregateCache, input: { companyId: string; entryId: string }, actor: Actor, now: Date) =>
  allowlist(aggregates, input.companyId, { actor, now }, (s) => ({ type: 'RemoveAllowlistEntry', ...input, actor: s.by, now: s.now }));
