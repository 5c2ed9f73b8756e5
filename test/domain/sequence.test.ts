import { describe, it } from 'vitest';
import {
  type SequenceCommand,
  type SequenceDefinition,
  type SequenceEvent,
  type SequenceVersion,
  sequenceDecider,
} from '../../src/domain/sequence.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-12-02T10:00:00.000Z';
const later = '2026-12-02T11:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';
const otherCompany = '6f1f3c1e-0000-4000-8000-00000000000b';
const sequenceId = '6f1f3c1e-0000-4000-8000-0000000000e1';
const actor = 'board:u';

const steps = [
  { outboxId: 'o1', payload: { subject: 'Hi {{firstName}}', text: 'Hello' }, waitBefore: 'PT0S' },
  { outboxId: 'o1', payload: { subject: 'Following up', text: 'Again' }, waitBefore: 'P2D' },
];
const sendWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const, start: '09:00', end: '17:00', tz: 'Europe/Berlin' };
const definition: SequenceDefinition = {
  name: 'Welcome',
  steps,
  sendWindow: { ...sendWindow, days: [...sendWindow.days] },
  stopOn: ['reply', 'unsubscribe'],
};
const v1: SequenceVersion = { version: 1, steps: definition.steps, sendWindow: definition.sendWindow, stopOn: definition.stopOn };

const created: SequenceEvent = {
  type: 'SequenceCreated',
  data: { sequenceId, companyId, name: 'Welcome', definition: v1, by: actor, at: now },
};
const paused: SequenceEvent = { type: 'SequencePaused', data: { sequenceId, companyId, by: actor, at: now } };
const resumed: SequenceEvent = { type: 'SequenceResumed', data: { sequenceId, companyId, by: actor, at: now } };
const deleted: SequenceEvent = { type: 'SequenceDeleted', data: { sequenceId, companyId, by: actor, at: now } };

const create = (company = companyId): SequenceCommand => ({
  type: 'CreateSequence',
  sequenceId,
  companyId: company,
  definition,
  actor,
  now,
});
const update = (changes: Partial<SequenceDefinition>, company = companyId): SequenceCommand => ({
  type: 'UpdateSequence',
  sequenceId,
  companyId: company,
  changes,
  actor,
  now: later,
});
const simple = (type: 'PauseSequence' | 'ResumeSequence' | 'DeleteSequence', company = companyId): SequenceCommand => ({
  type,
  sequenceId,
  companyId: company,
  actor,
  now: later,
});

describe('sequence decider', () => {
  const s = spec(sequenceDecider);

  describe('CreateSequence', () => {
    it('creates version 1 of the definition, the name kept apart from what runs', () => {
      s.given([]).when(create()).then([created]);
    });

    it('refuses a second create of the same sequence, deleted or not', () => {
      s.given([created]).when(create()).thenThrows('conflict');
      s.given([created, deleted]).when(create()).thenThrows('conflict');
      // Even another company cannot reuse the id: the stream is taken.
      s.given([created]).when(create(otherCompany)).thenThrows('conflict');
    });
  });

  describe('UpdateSequence', () => {
    it('renames without a new version: running enrollments are not affected by a name', () => {
      s.given([created])
        .when(update({ name: 'Onboarding' }))
        .then([{ type: 'SequenceRenamed', data: { sequenceId, companyId, name: 'Onboarding', by: actor, at: later } }]);
    });

    it('versions a change of steps, keeping the rest of the current version', () => {
      const newSteps = [steps[0]!];
      s.given([created])
        .when(update({ steps: newSteps }))
        .then([
          {
            type: 'SequenceVersioned',
            data: {
              sequenceId,
              companyId,
              definition: { version: 2, steps: newSteps, sendWindow: v1.sendWindow, stopOn: v1.stopOn },
              by: actor,
              at: later,
            },
          },
        ]);
    });

    it('versions a change of the send window (including removing it) or of what stops an enrollment', () => {
      s.given([created])
        .when(update({ sendWindow: null }))
        .then([
          {
            type: 'SequenceVersioned',
            data: { sequenceId, companyId, definition: { ...v1, version: 2, sendWindow: null }, by: actor, at: later },
          },
        ]);
      s.given([created])
        .when(update({ stopOn: ['reply', 'bounce', 'booking'] }))
        .then([
          {
            type: 'SequenceVersioned',
            data: {
              sequenceId,
              companyId,
              definition: { ...v1, version: 2, stopOn: ['reply', 'bounce', 'booking'] },
              by: actor,
              at: later,
            },
          },
        ]);
    });

    it('numbers versions from the latest one', () => {
      const v2: SequenceEvent = {
        type: 'SequenceVersioned',
        data: { sequenceId, companyId, definition: { ...v1, version: 2, sendWindow: null }, by: actor, at: now },
      };
      s.given([created, v2])
        .when(update({ stopOn: [] }))
        .then([
          {
            type: 'SequenceVersioned',
            data: { sequenceId, companyId, definition: { ...v1, version: 3, sendWindow: null, stopOn: [] }, by: actor, at: later },
          },
        ]);
    });

    it('renames and versions in one update, rename first', () => {
      s.given([created])
        .when(update({ name: 'Onboarding', stopOn: ['reply'] }))
        .then([
          { type: 'SequenceRenamed', data: { sequenceId, companyId, name: 'Onboarding', by: actor, at: later } },
          {
            type: 'SequenceVersioned',
            data: { sequenceId, companyId, definition: { ...v1, version: 2, stopOn: ['reply'] }, by: actor, at: later },
          },
        ]);
    });

    it('decides nothing when nothing changes: same name, same steps, window and stop causes, or no changes at all', () => {
      s.given([created]).when(update({})).then([]);
      s.given([created])
        .when(
          update({
            name: 'Welcome',
            steps: structuredClone(steps),
            sendWindow: structuredClone(definition.sendWindow),
            stopOn: ['reply', 'unsubscribe'],
          }),
        )
        .then([]);
    });

    it('updates a paused sequence', () => {
      s.given([created, paused])
        .when(update({ name: 'Onboarding' }))
        .then([{ type: 'SequenceRenamed', data: { sequenceId, companyId, name: 'Onboarding', by: actor, at: later } }]);
    });

    it('compares with the latest name', () => {
      const renamed: SequenceEvent = { type: 'SequenceRenamed', data: { sequenceId, companyId, name: 'Onboarding', by: actor, at: now } };
      s.given([created, renamed])
        .when(update({ name: 'Onboarding' }))
        .then([]);
    });

    it("is not_found for a missing, deleted or another company's sequence", () => {
      s.given([])
        .when(update({ name: 'x' }))
        .thenThrows('not_found');
      s.given([created, deleted])
        .when(update({ name: 'x' }))
        .thenThrows('not_found');
      s.given([created])
        .when(update({ name: 'x' }, otherCompany))
        .thenThrows('not_found');
    });
  });

  describe('PauseSequence / ResumeSequence', () => {
    it('pauses an active sequence and resumes a paused one', () => {
      s.given([created])
        .when(simple('PauseSequence'))
        .then([{ type: 'SequencePaused', data: { sequenceId, companyId, by: actor, at: later } }]);
      s.given([created, paused])
        .when(simple('ResumeSequence'))
        .then([{ type: 'SequenceResumed', data: { sequenceId, companyId, by: actor, at: later } }]);
      s.given([created, paused, resumed])
        .when(simple('PauseSequence'))
        .then([{ type: 'SequencePaused', data: { sequenceId, companyId, by: actor, at: later } }]);
    });

    it('decides nothing when already in that state', () => {
      s.given([created, paused]).when(simple('PauseSequence')).then([]);
      s.given([created]).when(simple('ResumeSequence')).then([]);
      s.given([created, paused, resumed]).when(simple('ResumeSequence')).then([]);
    });

    it("is not_found for a missing, deleted or another company's sequence", () => {
      for (const type of ['PauseSequence', 'ResumeSequence'] as const) {
        s.given([]).when(simple(type)).thenThrows('not_found');
        s.given([created, deleted]).when(simple(type)).thenThrows('not_found');
        s.given([created, paused, deleted]).when(simple(type)).thenThrows('not_found');
        s.given([created]).when(simple(type, otherCompany)).thenThrows('not_found');
      }
    });
  });

  describe('DeleteSequence', () => {
    it('deletes an active or a paused sequence', () => {
      const event: SequenceEvent = { type: 'SequenceDeleted', data: { sequenceId, companyId, by: actor, at: later } };
      s.given([created]).when(simple('DeleteSequence')).then([event]);
      s.given([created, paused]).when(simple('DeleteSequence')).then([event]);
    });

    it("is not_found for a missing, already deleted or another company's sequence", () => {
      s.given([]).when(simple('DeleteSequence')).thenThrows('not_found');
      s.given([created, deleted]).when(simple('DeleteSequence')).thenThrows('not_found');
      s.given([created]).when(simple('DeleteSequence', otherCompany)).thenThrows('not_found');
    });
  });
});
