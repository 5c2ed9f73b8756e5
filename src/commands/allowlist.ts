import { randomUUID } from 'node:crypto';
import { allowlistDecider, allowlistStream } from '../domain/allowlist.js';
import type { SendChannel } from '../domain/channels.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import type { AggregateCache } from './aggregate-cache.js';

// Through the aggregate cache: an allowlist may hold thousands of entries, and reading and folding its whole
// stream for each change made a run of additions quadratic (and slowed every other company's queries).

export async function addAllowlistEntry(
  aggregates: AggregateCache,
  input: { companyId: string; pattern: string; channel: SendChannel | null; note: string | null },
  actor: Actor,
  now: Date,
) {
  const entryId = randomUUID();
  const r = await aggregates.handle(
    allowlistStream(input.companyId),
    allowlistDecider,
    {
      type: 'AddAllowlistEntry',
      companyId: input.companyId,
      entry: { entryId, pattern: input.pattern, channel: input.channel, note: input.note, createdAt: now.toISOString(), createdBy: actorLabel(actor) },
    },
    actorMetadata(actor),
  );
  return { id: entryId, position: r.position };
}

export async function removeAllowlistEntry(aggregates: AggregateCache, input: { companyId: string; entryId: string }, actor: Actor, now: Date) {
  const r = await aggregates.handle(
    allowlistStream(input.companyId),
    allowlistDecider,
    { type: 'RemoveAllowlistEntry', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}
