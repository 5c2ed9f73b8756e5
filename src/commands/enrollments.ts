import { canonicalTo } from '../channels/outgoing.js';
import { DomainError } from '../domain/decider.js';
import { derivedUuid } from '../domain/derived-id.js';
import { enrollmentDecider } from '../domain/enrollment.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { missingVariables } from '../sequences/render.js';
import { type Actor, actorLabel } from './actor.js';
import { loadOutbox } from './outboxes.js';
import { enrollment, liveSequence } from './sequences.js';

export interface EnrollContact {
  to: string;
  variables?: Record<string, string>;
  timezone?: string;
}

export interface EnrollResult {
  id: string;
  to: string;
  status: 'enrolled' | 'already_enrolled';
}

/**
 * A recipient is enrolled in a sequence once, under an id made from (sequence, recipient): two calls enrolling the
 * same person at once name the same stream, and the one that appends second finds it taken. Once is on purpose:
 * a retried call (even after the enrollment ended) is harmless, and a person who replied, unsubscribed or was
 * stopped is never enrolled again by a repeat; contacting them again takes another sequence.
 */
const enrollmentIdOf = (sequenceId: string, to: string) => derivedUuid(sequenceId, 'enrollment', to);

/**
 * Enrolls contacts in a sequence, on its current version. All are checked first (the recipient's form for the
 * first step's channel, every template variable the steps use): one bad contact is a 400 naming it, and nothing
 * of the call is enrolled. A recipient enrolled before, running or ended, is answered `already_enrolled` with it.
 */
export async function enroll(
  store: EventStore,
  input: { companyId: string; sequenceId: string; contacts: EnrollContact[] },
  actor: Actor,
  now: Date,
): Promise<{ enrollments: EnrollResult[]; position: Position | null }> {
  const seq = await liveSequence(store, input.companyId, input.sequenceId);
  const definition = seq.current!;
  const first = await loadOutbox(store, input.companyId, definition.steps[0]!.outboxId);
  if (!first) throw new DomainError('invalid_state', 'the outbox of the first step is gone: the sequence cannot enroll');
  const checked = input.contacts.map((c, i) => {
    const to = (() => {
      try {
        return canonicalTo(first.channel, c.to);
      } catch {
        throw new DomainError('invalid_input', `contacts[${i}].to is not a valid ${first.channel} recipient`, [
          { code: 'custom', path: ['contacts', i, 'to'], message: `not a ${first.channel} recipient` },
        ]);
      }
    })();
    const variables = c.variables ?? {};
    const missing = [...new Set(definition.steps.flatMap((s) => missingVariables(s.payload, variables)))].sort();
    if (missing.length > 0) {
      throw new DomainError('invalid_input', `contacts[${i}] (${to}) lacks the template variable ${missing.join(', ')}`, [
        { code: 'custom', path: ['contacts', i, 'variables'], message: `missing: ${missing.join(', ')}` },
      ]);
    }
    return { to, variables, timezone: definition.sendWindow?.tz ?? c.timezone ?? first.timezone };
  });
  const results: EnrollResult[] = [];
  let position: Position | null = null;
  const seen = new Map<string, EnrollResult>();
  for (const c of checked) {
    const again = seen.get(c.to);
    if (again) {
      results.push({ ...again, status: 'already_enrolled' });
      continue;
    }
    const r = await enrollOne(store, input, c, definition, actor, now);
    if (r.position) position = r.position;
    seen.set(c.to, r.result);
    results.push(r.result);
  }
  return { enrollments: results, position };
}

async function enrollOne(
  store: EventStore,
  input: { companyId: string; sequenceId: string },
  c: { to: string; variables: Record<string, string>; timezone: string },
  definition: NonNullable<Awaited<ReturnType<typeof liveSequence>>['current']>,
  actor: Actor,
  now: Date,
): Promise<{ result: EnrollResult; position: Position | null }> {
  const enrollmentId = enrollmentIdOf(input.sequenceId, c.to);
  const already = { result: { id: enrollmentId, to: c.to, status: 'already_enrolled' as const }, position: null };
  try {
    // Decided on "not enrolled" without a read: the append (no stream) proves it; if the person was enrolled, the
    // loop reloads and the decider refuses.
    const r = await enrollment(
      store,
      enrollmentId,
      { actor, now },
      (s) => ({
        type: 'StartEnrollment',
        start: { enrollmentId, sequenceId: input.sequenceId, companyId: input.companyId, definition, ...c, by: actorLabel(actor) },
        now: s.now,
      }),
      { state: enrollmentDecider.initialState(), revision: null },
    );
    return { result: { id: enrollmentId, to: c.to, status: 'enrolled' }, position: r.position };
  } catch (err) {
    // Enrolled before, or by another call just now: that enrollment answers.
    if (err instanceof DomainError && err.kind === 'conflict') return already;
    throw err;
  }
}
