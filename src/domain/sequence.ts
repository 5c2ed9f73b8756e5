import { canonicalJson } from './canonical-json.js';
import type { SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';

/** One stream per sequence: its definition's versions and its status. */
export const sequenceStream = (sequenceId: string) => `crm_sequence-${sequenceId}`;

export const STOP_CAUSES = ['reply', 'bounce', 'unsubscribe', 'booking'] as const;
export type StopCause = (typeof STOP_CAUSES)[number];

export interface SequenceStep {
  outboxId: string;
  /** The outbox's channel when absent; `dry-run` to check a step without sending it. */
  channel?: SendChannel;
  /** String fields are Mustache templates, rendered per enrollment (src/sequences/render.ts). */
  payload: Record<string, unknown>;
  contentPieceId?: string | null;
  tags?: string[];
  /** ISO-8601 duration after the previous step's send (after the enrollment, for the first step). */
  waitBefore: string;
}

export interface SequenceSendWindow {
  days: ('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[];
  start: string;
  end: string;
  /** The window's own time zone; else the contact's, else the outbox's. */
  tz?: string;
}

/** What an enrollment runs on: the steps, the sending hours and what stops it, as they were when it started. */
export interface SequenceVersion {
  version: number;
  steps: SequenceStep[];
  sendWindow: SequenceSendWindow | null;
  stopOn: StopCause[];
}

export interface SequenceDefinition {
  name: string;
  steps: SequenceStep[];
  sendWindow: SequenceSendWindow | null;
  stopOn: StopCause[];
}

export type SequenceEvent =
  | DomainEvent<
      'SequenceCreated',
      { sequenceId: string; companyId: string; name: string; definition: SequenceVersion; by: string; at: string }
    >
  | DomainEvent<'SequenceRenamed', { sequenceId: string; companyId: string; name: string; by: string; at: string }>
  | DomainEvent<'SequenceVersioned', { sequenceId: string; companyId: string; definition: SequenceVersion; by: string; at: string }>
  | DomainEvent<'SequencePaused', { sequenceId: string; companyId: string; by: string; at: string }>
  | DomainEvent<'SequenceResumed', { sequenceId: string; companyId: string; by: string; at: string }>
  | DomainEvent<'SequenceDeleted', { sequenceId: string; companyId: string; by: string; at: string }>;

export type SequenceCommand =
  | { type: 'CreateSequence'; sequenceId: string; companyId: string; definition: SequenceDefinition; actor: string; now: string }
  | {
      type: 'UpdateSequence';
      sequenceId: string;
      companyId: string;
      changes: Partial<SequenceDefinition>;
      actor: string;
      now: string;
    }
  | { type: 'PauseSequence' | 'ResumeSequence' | 'DeleteSequence'; sequenceId: string; companyId: string; actor: string; now: string };

export interface SequenceState {
  status: 'none' | 'active' | 'paused' | 'deleted';
  companyId: string | null;
  name: string;
  /** The latest version: what new enrollments run on. */
  current: SequenceVersion | null;
}

const initialState = (): SequenceState => ({ status: 'none', companyId: null, name: '', current: null });

// By canonical JSON: the same definition with its keys in another order is no change.
const sameJson = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

export const sequenceDecider: Decider<SequenceCommand, SequenceState, SequenceEvent> = {
  initialState,
  evolve(state, event) {
    switch (event.type) {
      case 'SequenceCreated':
        return { status: 'active', companyId: event.data.companyId, name: event.data.name, current: event.data.definition };
      case 'SequenceRenamed':
        return { ...state, name: event.data.name };
      case 'SequenceVersioned':
        return { ...state, current: event.data.definition };
      case 'SequencePaused':
        return { ...state, status: 'paused' };
      case 'SequenceResumed':
        return { ...state, status: 'active' };
      case 'SequenceDeleted':
        return { ...state, status: 'deleted' };
    }
  },
  decide(command, state) {
    const { sequenceId, companyId } = command;
    const by = command.actor;
    const at = command.now;
    if (command.type === 'CreateSequence') {
      if (state.status !== 'none') throw new DomainError('conflict', 'sequence already exists');
      const { name, ...definition } = command.definition;
      return [{ type: 'SequenceCreated', data: { sequenceId, companyId, name, definition: { version: 1, ...definition }, by, at } }];
    }
    // Another company's sequence is as unknown as a missing one.
    if (state.status === 'none' || state.status === 'deleted' || state.companyId !== companyId)
      throw new DomainError('not_found', 'sequence not found');
    switch (command.type) {
      case 'UpdateSequence': {
        const current = state.current!;
        const { name, ...definition } = command.changes;
        const events: SequenceEvent[] = [];
        if (name !== undefined && name !== state.name)
          events.push({ type: 'SequenceRenamed', data: { sequenceId, companyId, name, by, at } });
        const next = { steps: current.steps, sendWindow: current.sendWindow, stopOn: current.stopOn, ...definition };
        // A change of what runs is a new version; running enrollments finish on theirs.
        if (!sameJson(next, { steps: current.steps, sendWindow: current.sendWindow, stopOn: current.stopOn })) {
          events.push({
            type: 'SequenceVersioned',
            data: { sequenceId, companyId, definition: { version: current.version + 1, ...next }, by, at },
          });
        }
        return events;
      }
      case 'PauseSequence':
        return state.status === 'paused' ? [] : [{ type: 'SequencePaused', data: { sequenceId, companyId, by, at } }];
      case 'ResumeSequence':
        return state.status === 'active' ? [] : [{ type: 'SequenceResumed', data: { sequenceId, companyId, by, at } }];
      case 'DeleteSequence':
        return [{ type: 'SequenceDeleted', data: { sequenceId, companyId, by, at } }];
    }
  },
};
