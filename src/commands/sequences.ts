import { randomUUID } from 'node:crypto';
import { contentPieceDecider, contentPieceStream } from '../domain/content-piece.js';
import { DomainError } from '../domain/decider.js';
import { enrollmentDecider, enrollmentStream } from '../domain/enrollment.js';
import { type SequenceDefinition, sequenceDecider, sequenceStream } from '../domain/sequence.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { Queryable } from '../sql/db.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import { loadAggregate } from './handle-command.js';
import { channelPayload } from '../channels/outgoing.js';
import { templateVariables } from '../sequences/render.js';
import { loadOutbox } from './outboxes.js';

const sequence = commandHandlerFor(sequenceDecider, sequenceStream);
export const enrollment = commandHandlerFor(enrollmentDecider, enrollmentStream);

/**
 * Every step checked as its sends will be (400 naming the step: nothing is stored): a valid template, a live outbox
 * of the company on the step's channel, a payload of that channel, a content piece of the company. A step with no
 * channel is given its outbox's, so that sending it needs no read of the outbox (an outbox's channel never changes).
 */
async function checkSteps(store: EventStore, companyId: string, steps: SequenceDefinition['steps']): Promise<SequenceDefinition['steps']> {
  const checked = [];
  for (const [i, step] of steps.entries()) {
    try {
      templateVariables(step.payload);
    } catch {
      // An unclosed tag or section: refused now, rather than failing every send of the step later.
      throw new DomainError('invalid_input', `step ${i}: the payload is not a valid template`, [
        { code: 'custom', path: ['steps', i, 'payload'], message: 'unclosed or unbalanced {{tag}}' },
      ]);
    }
    const outbox = await loadOutbox(store, companyId, step.outboxId);
    if (!outbox) {
      throw new DomainError('invalid_input', `step ${i}: outbox not found`, [
        { code: 'custom', path: ['steps', i, 'outboxId'], message: 'unknown outbox' },
      ]);
    }
    if (step.channel !== undefined && step.channel !== 'dry-run' && step.channel !== outbox.channel) {
      throw new DomainError('invalid_input', `step ${i}: channel ${step.channel} is not the outbox's (${outbox.channel})`, [
        { code: 'custom', path: ['steps', i, 'channel'], message: `must be ${outbox.channel} or dry-run` },
      ]);
    }
    // The payload's shape for its channel, as the dispatcher will check it (templates are strings either way).
    channelPayload(outbox.channel, step.payload, ['steps', i, 'payload']);
    if (step.contentPieceId) {
      const { state: piece } = await loadAggregate(store, contentPieceStream(step.contentPieceId), contentPieceDecider);
      if (piece.status !== 'active' || piece.companyId !== companyId) {
        throw new DomainError('invalid_input', `step ${i}: content piece not found`, [
          { code: 'custom', path: ['steps', i, 'contentPieceId'], message: 'unknown content piece' },
        ]);
      }
    }
    checked.push({ ...step, channel: step.channel ?? outbox.channel });
  }
  return checked;
}

export async function createSequence(
  store: EventStore,
  input: { companyId: string; definition: SequenceDefinition },
  actor: Actor,
  now: Date,
) {
  const definition = { ...input.definition, steps: await checkSteps(store, input.companyId, input.definition.steps) };
  const sequenceId = randomUUID();
  const r = await sequence(store, sequenceId, { actor, now }, (s) => ({
    type: 'CreateSequence',
    sequenceId,
    companyId: input.companyId,
    definition,
    actor: s.by,
    now: s.now,
  }));
  return { id: sequenceId, position: r.position };
}

export async function updateSequence(
  store: EventStore,
  input: { companyId: string; sequenceId: string; changes: Partial<SequenceDefinition> },
  actor: Actor,
  now: Date,
) {
  const steps = input.changes.steps ? await checkSteps(store, input.companyId, input.changes.steps) : undefined;
  const changes = steps ? { ...input.changes, steps } : input.changes;
  return sequence(store, input.sequenceId, { actor, now }, (s) => ({ type: 'UpdateSequence', ...input, changes, actor: s.by, now: s.now }));
}

export const pauseSequence = (store: EventStore, input: { companyId: string; sequenceId: string }, actor: Actor, now: Date) =>
  sequence(store, input.sequenceId, { actor, now }, (s) => ({ type: 'PauseSequence', ...input, actor: s.by, now: s.now }));

export const resumeSequence = (store: EventStore, input: { companyId: string; sequenceId: string }, actor: Actor, now: Date) =>
  sequence(store, input.sequenceId, { actor, now }, (s) => ({ type: 'ResumeSequence', ...input, actor: s.by, now: s.now }));

/**
 * Soft delete: the sequence is gone for its routes, and its running enrollments stop (`sequence_deleted`). The
 * enrollments stopped here are those the read model lists; one it does not list yet is stopped by the
 * scheduler, which never runs a step of a deleted sequence.
 */
export async function deleteSequence(
  store: EventStore,
  db: Queryable,
  input: { companyId: string; sequenceId: string },
  actor: Actor,
  now: Date,
) {
  const r = await sequence(store, input.sequenceId, { actor, now }, (s) => ({ type: 'DeleteSequence', ...input, actor: s.by, now: s.now }));
  let position: Position | null = r.position;
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM crm_enrollments WHERE sequence_id = $1 AND company_id = $2 AND status IN ('active', 'waiting_approval')`,
    [input.sequenceId, input.companyId],
  );
  for (const { id } of rows) {
    const stopped = await stopEnrollment(store, id, 'sequence_deleted', actor, now);
    position = stopped.position ?? position;
  }
  return { position };
}

export const stopEnrollment = (store: EventStore, enrollmentId: string, reason: string, actor: Actor, now: Date) =>
  enrollment(store, enrollmentId, { actor, now }, (s) => ({ type: 'StopEnrollment', reason, now: s.now }));

/** The sequence as its stream has it (the source of truth for enrolling), or a 404. */
export async function liveSequence(store: EventStore, companyId: string, sequenceId: string) {
  const { state } = await loadAggregate(store, sequenceStream(sequenceId), sequenceDecider);
  if (state.status === 'none' || state.status === 'deleted' || state.companyId !== companyId)
    throw new DomainError('not_found', 'sequence not found');
  return state;
}
