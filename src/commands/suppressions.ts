import type { OutboxChannel } from '../domain/channels.js';
import { DomainError } from '../domain/decider.js';
import {
  type SuppressionEntry,
  type SuppressionSource,
  parseSuppressedRecipient,
  suppressionDecider,
  suppressionId,
  suppressionStream,
} from '../domain/suppression.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { type Actor, SYSTEM_ACTOR, actorLabel } from './actor.js';
import { commandHandlerFor } from './command-handler.js';

const suppression = commandHandlerFor(suppressionDecider, suppressionStream);

export interface SuppressInput {
  companyId: string;
  /**
   * One recipient of the channel, canonicalised (see src/domain/recipients.ts). A person's entry (`manual`)
   * must be a bare recipient; the system's own sources are read as delivered (`Ana <ana@x>` is `ana@x`).
   */
  recipient: string;
  /** null: every channel. */
  channel: OutboxChannel | null;
  source: SuppressionSource;
  reason?: string | null;
  /** Who asked, as recorded; defaults to the actor's label (e.g. `recipient` for a one-click unsubscribe). */
  createdBy?: string;
  /** The provider event that reports it, for a webhook's: each report takes effect once (see the decider). */
  cause?: string;
}

export interface SuppressResult {
  entry: SuppressionEntry;
  /** false when the recipient was already suppressed in that scope: nothing was written. */
  created: boolean;
  position: Position | null;
}

/**
 * Suppresses a recipient for a company (idempotent: an existing suppression in the same scope is returned as
 * it is). The entry point for every source: the HTTP routes, one-click unsubscribes, SMTP refusals, and
 * bounce webhooks. A malformed recipient is a `DomainError('invalid_input')`, before anything is written.
 */
export async function suppressRecipient(
  store: EventStore,
  input: SuppressInput,
  now: Date,
  actor: Actor = SYSTEM_ACTOR,
): Promise<SuppressResult> {
  // An unsubscribe link or a bounce names where a message went, maybe in a spelling from before recipients
  // were canonical: reading it generously can only stop more mail.
  const recipient = parseSuppressedRecipient(input.recipient, input.channel, input.source !== 'manual');
  if (!recipient)
    throw new DomainError(
      'invalid_input',
      input.channel ? `recipient is not a valid ${input.channel} recipient` : 'recipient is not a valid recipient',
    );
  const id = suppressionId(input.companyId, recipient, input.channel);
  const entry: SuppressionEntry = {
    suppressionId: id,
    companyId: input.companyId,
    recipient,
    channel: input.channel,
    source: input.source,
    reason: input.reason ?? null,
    createdAt: now.toISOString(),
    createdBy: input.createdBy ?? actorLabel(actor),
  };
  const r = await suppression(store, id, { actor, now }, () => ({
    type: 'SuppressRecipient',
    entry,
    ...(input.cause ? { cause: input.cause } : {}),
  }));
  return { entry: r.state.active ?? entry, created: r.events.length > 0, position: r.position };
}

export const liftSuppression = (store: EventStore, input: { companyId: string; suppressionId: string }, actor: Actor, now: Date) =>
  suppression(store, input.suppressionId, { actor, now }, (s) => ({ type: 'LiftSuppression', ...input, actor: s.by, now: s.now }));
