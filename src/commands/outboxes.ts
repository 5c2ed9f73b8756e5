import { randomUUID } from 'node:crypto';
import { type OutboxFields, outboxDecider, outboxStream } from '../domain/outbox.js';
import { companyScope } from '../domain/secret.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { MasterKey } from '../secrets/crypto.js';
import { webhookConfigOf } from '../webhooks/config.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import { loadAggregate } from './handle-command.js';
import { resolveSecret } from './secrets.js';

/** The credential behind a reference: the secret must exist in the company (else 422, or 400 if malformed). */
async function credentialOf(store: EventStore, master: MasterKey, secretRef: string, companyId: string): Promise<string> {
  return (await resolveSecret(store, master, secretRef, companyScope(companyId))).secretId;
}

/** A webhook signing secret must be one of the company's, like the outbox's own credential (else 422). */
async function checkWebhookSecret(store: EventStore, master: MasterKey, config: Record<string, unknown> | undefined, companyId: string) {
  const webhook = config ? webhookConfigOf(config) : null;
  if (webhook) await resolveSecret(store, master, webhook.secretRef, companyScope(companyId));
}

const outbox = commandHandlerFor(outboxDecider, outboxStream);

export async function createOutbox(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; fields: Omit<OutboxFields, 'credentialId'> },
  actor: Actor,
  now: Date,
): Promise<{ id: string; position: Position | null }> {
  const credentialId = await credentialOf(store, master, input.fields.secretRef, input.companyId);
  await checkWebhookSecret(store, master, input.fields.config, input.companyId);
  const outboxId = randomUUID();
  const r = await outbox(store, outboxId, { actor, now }, (s) => ({
    type: 'CreateOutbox',
    outboxId,
    companyId: input.companyId,
    fields: { ...input.fields, credentialId },
    actor: s.by,
    now: s.now,
  }));
  return { id: outboxId, position: r.position };
}

export async function updateOutbox(
  store: EventStore,
  master: MasterKey,
  input: { companyId: string; outboxId: string; changes: Partial<Omit<OutboxFields, 'channel' | 'credentialId'>> },
  actor: Actor,
  now: Date,
): Promise<{ position: Position | null }> {
  const changes: Partial<OutboxFields> = { ...input.changes };
  if (input.changes.secretRef !== undefined)
    changes.credentialId = await credentialOf(store, master, input.changes.secretRef, input.companyId);
  await checkWebhookSecret(store, master, input.changes.config, input.companyId);
  return outbox(store, input.outboxId, { actor, now }, (s) => ({
    type: 'UpdateOutbox',
    outboxId: input.outboxId,
    companyId: input.companyId,
    changes,
    actor: s.by,
    now: s.now,
  }));
}

export const deleteOutbox = (store: EventStore, input: { companyId: string; outboxId: string }, actor: Actor, now: Date) =>
  outbox(store, input.outboxId, { actor, now }, (s) => ({ type: 'DeleteOutbox', ...input, actor: s.by, now: s.now }));

/** The live outbox of a company, from its stream (the dispatcher's source of truth), or null. */
export async function loadOutbox(store: EventStore, companyId: string, outboxId: string) {
  const { state } = await loadAggregate(store, outboxStream(outboxId), outboxDecider);
  return state.status === 'active' && state.companyId === companyId ? { outboxId, companyId, ...state.fields } : null;
}
