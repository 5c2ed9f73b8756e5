import { randomUUID } from 'node:crypto';
import { allowlistDecider, allowlistStream } from '../domain/allowlist.js';
import type { SendChannel } from '../domain/channels.js';
import type { EventStore } from '../eventstore/port.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { handleCommand } from './handle-command.js';

export async function addAllowlistEntry(
  store: EventStore,
  input: { companyId: string; pattern: string; channel: SendChannel | null; note: string | null },
  actor: Actor,
  now: Date,
) {
  const entryId = randomUUID();
  const r = await handleCommand(
    store,
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

export async function removeAllowlistEntry(store: EventStore, input: { companyId: string; entryId: string }, actor: Actor, now: Date) {
  const r = await handleCommand(
    store,
    allowlistStream(input.companyId),
    allowlistDecider,
    { type: 'RemoveAllowlistEntry', ...input, actor: actorLabel(actor), now: now.toISOString() },
    actorMetadata(actor),
  );
  return { position: r.position };
}
