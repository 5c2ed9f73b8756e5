import { describe, expect, it } from 'vitest';
import { fold } from '../../src/domain/decider.js';
import { type OutboxCommand, type OutboxEvent, type OutboxFields, outboxDecider } from '../../src/domain/outbox.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-12-02T10:00:00.000Z';
const later = '2026-12-02T11:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';
const otherCompany = '6f1f3c1e-0000-4000-8000-00000000000b';
const outboxId = '6f1f3c1e-0000-4000-8000-0000000000b1';
const fields: OutboxFields = {
  channel: 'email',
  niche: 'solar',
  secretRef: 'smtp',
  credentialId: 'cred-1',
  config: { host: 'smtp.example.org', port: 587 },
  dailyCap: 200,
  timezone: 'Europe/Lisbon',
};

const create = (over: Partial<Extract<OutboxCommand, { type: 'CreateOutbox' }>> = {}): OutboxCommand => ({
  type: 'CreateOutbox',
  outboxId,
  companyId,
  fields,
  actor: 'board:u',
  now,
  ...over,
});
const update = (changes: Extract<OutboxCommand, { type: 'UpdateOutbox' }>['changes'], company = companyId): OutboxCommand => ({
  type: 'UpdateOutbox',
  outboxId,
  companyId: company,
  changes,
  actor: 'board:v',
  now: later,
});
const remove = (company = companyId): OutboxCommand => ({
  type: 'DeleteOutbox',
  outboxId,
  companyId: company,
  actor: 'board:v',
  now: later,
});

const created: OutboxEvent = { type: 'OutboxCreated', data: { outboxId, companyId, fields, createdBy: 'board:u', createdAt: now } };
const updated = (changes: Partial<OutboxFields>): OutboxEvent => ({
  type: 'OutboxUpdated',
  data: { outboxId, companyId, changes, updatedBy: 'board:v', updatedAt: later },
});
const deleted: OutboxEvent = { type: 'OutboxDeleted', data: { outboxId, companyId, deletedBy: 'board:v', deletedAt: later } };

describe('outbox decider', () => {
  const s = spec(outboxDecider);

  it('creates an outbox with its fields, its company and who made it', () => {
    s.given([]).when(create()).then([created]);
  });

  it('never creates twice under one id: not over a live outbox, nor over a deleted one', () => {
    s.given([created]).when(create()).thenThrows('conflict');
    // Another company cannot take the id over either.
    s.given([created])
      .when(create({ companyId: otherCompany }))
      .thenThrows('conflict');
    s.given([created, deleted]).when(create()).thenThrows('conflict');
  });

  it('records only the fields a change alters', () => {
    s.given([created])
      .when(update({ dailyCap: 50, timezone: 'Europe/Lisbon', niche: 'solar' }))
      .then([updated({ dailyCap: 50 })]);
    // Nested config compares by value, whatever its key order: the same config in another order is no change.
    s.given([created])
      .when(update({ config: { port: 587, host: 'smtp.example.org' } }))
      .then([]);
    s.given([created])
      .when(update({ config: { host: 'smtp.example.org', port: 465 } }))
      .then([updated({ config: { host: 'smtp.example.org', port: 465 } })]);
    s.given([created])
      .when(update({ niche: null, secretRef: 'smtp-2', credentialId: 'cred-2' }))
      .then([updated({ niche: null, secretRef: 'smtp-2', credentialId: 'cred-2' })]);
  });

  it('an update that changes nothing records nothing', () => {
    s.given([created]).when(update({})).then([]);
    s.given([created])
      .when(update({ ...fields }))
      .then([]);
  });

  it('compares a change with the fields as updated, not as created', () => {
    s.given([created, updated({ dailyCap: 50 })])
      .when(update({ dailyCap: 50 }))
      .then([]);
    s.given([created, updated({ dailyCap: 50 })])
      .when(update({ dailyCap: 200 }))
      .then([updated({ dailyCap: 200 })]);
  });

  it('deletes a live outbox', () => {
    s.given([created]).when(remove()).then([deleted]);
    s.given([created, updated({ dailyCap: 50 })])
      .when(remove())
      .then([deleted]);
  });

  it('knows no outbox that was never created, that was deleted, or that is another company’s (404)', () => {
    for (const command of [update({ dailyCap: 1 }), remove()]) {
      s.given([]).when(command).thenThrows('not_found');
      s.given([created, deleted]).when(command).thenThrows('not_found');
    }
    s.given([created])
      .when(update({ dailyCap: 1 }, otherCompany))
      .thenThrows('not_found');
    s.given([created]).when(remove(otherCompany)).thenThrows('not_found');
    // Not found comes before "nothing to change": an empty update of a missing outbox is refused, not a no-op.
    s.given([]).when(update({})).thenThrows('not_found');
  });

  it('folds the fields as created and updated, and keeps them once deleted', () => {
    expect(fold(outboxDecider, [created, updated({ dailyCap: 50 })])).toEqual({
      status: 'active',
      companyId,
      fields: { ...fields, dailyCap: 50 },
    });
    expect(fold(outboxDecider, [created, deleted])).toEqual({ status: 'deleted', companyId, fields });
    expect(fold(outboxDecider, [])).toEqual({ status: 'none' });
  });
});
