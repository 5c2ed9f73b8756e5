import { describe, expect, it } from 'vitest';
import { ALLOWLIST_LIMITS, type AllowlistEntry, type AllowlistEvent, allowlistDecider } from '../../src/domain/allowlist.js';
import { fold } from '../../src/domain/decider.js';
import { spec } from '../support/decider-spec.js';

// The decider's commands; pattern matching is test/domain/allowlist-patterns.test.ts.

const now = '2026-12-02T10:00:00.000Z';
const later = '2026-12-02T11:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';

const entry = (entryId: string, over: Partial<AllowlistEntry> = {}): AllowlistEntry => ({
  entryId,
  pattern: '*@client.example',
  channel: 'email',
  note: 'the pilot client',
  createdAt: now,
  createdBy: 'board:u',
  ...over,
});
const add = (e: AllowlistEntry) => ({ type: 'AddAllowlistEntry' as const, companyId, entry: e });
const added = (e: AllowlistEntry): AllowlistEvent => ({ type: 'AllowlistEntryAdded', data: { companyId, entry: e } });
const remove = (entryId: string) => ({ type: 'RemoveAllowlistEntry' as const, companyId, entryId, actor: 'board:v', now: later });
const removed = (entryId: string): AllowlistEvent => ({
  type: 'AllowlistEntryRemoved',
  data: { companyId, entryId, removedBy: 'board:v', removedAt: later },
});
const fullList = (): AllowlistEvent[] =>
  Array.from({ length: ALLOWLIST_LIMITS.entries }, (_, i) => added(entry(`e${i}`, { pattern: `p${i}@client.example` })));

describe('allowlist decider', () => {
  const s = spec(allowlistDecider);

  it('adds an entry as given', () => {
    s.given([])
      .when(add(entry('e1')))
      .then([added(entry('e1'))]);
    s.given([])
      .when(add(entry('e1', { channel: null, note: null, pattern: '*' })))
      .then([added(entry('e1', { channel: null, note: null, pattern: '*' }))]);
  });

  it('refuses a pattern or a note over its length limit, and takes one at the limit', () => {
    const atLimit = 'a'.repeat(ALLOWLIST_LIMITS.patternLength);
    s.given([])
      .when(add(entry('e1', { pattern: atLimit })))
      .then([added(entry('e1', { pattern: atLimit }))]);
    s.given([])
      .when(add(entry('e1', { pattern: `${atLimit}a` })))
      .thenThrows('invalid_input');
    const noteAtLimit = 'n'.repeat(ALLOWLIST_LIMITS.noteLength);
    s.given([])
      .when(add(entry('e1', { note: noteAtLimit })))
      .then([added(entry('e1', { note: noteAtLimit }))]);
    s.given([])
      .when(add(entry('e1', { note: `${noteAtLimit}n` })))
      .thenThrows('invalid_input');
  });

  it('refuses a pattern already allowed on the same channel, naming the entry that allows it (409)', () => {
    s.given([added(entry('e1'))])
      .when(add(entry('e2')))
      .thenThrows('conflict', { existingId: 'e1' });
    // A pattern for every channel is another entry than the same pattern for one.
    s.given([added(entry('e1'))])
      .when(add(entry('e2', { channel: null })))
      .then([added(entry('e2', { channel: null }))]);
    s.given([added(entry('e1'))])
      .when(add(entry('e2', { channel: 'linkedin' })))
      .then([added(entry('e2', { channel: 'linkedin' }))]);
    // The note is no part of what is allowed.
    s.given([added(entry('e1'))])
      .when(add(entry('e2', { note: 'another note' })))
      .thenThrows('conflict', { existingId: 'e1' });
  });

  it('a removed pattern may be allowed again', () => {
    s.given([added(entry('e1')), removed('e1')])
      .when(add(entry('e2')))
      .then([added(entry('e2'))]);
  });

  it('refuses an entry past the limit (422, with the limit), and takes one again once an entry is removed', () => {
    const full = fullList();
    s.given(full)
      .when(add(entry('new')))
      .thenThrows('invalid_state', { limit: ALLOWLIST_LIMITS.entries });
    s.given(full.slice(1))
      .when(add(entry('new')))
      .then([added(entry('new'))]);
    s.given([...full, removed('e0')])
      .when(add(entry('new')))
      .then([added(entry('new'))]);
    // On a full list a duplicate is told as a duplicate: it names the entry that already allows it.
    s.given(full)
      .when(add(entry('new', { pattern: 'p7@client.example' })))
      .thenThrows('conflict', { existingId: 'e7' });
  });

  it('removes an entry it has', () => {
    s.given([added(entry('e1'))])
      .when(remove('e1'))
      .then([removed('e1')]);
  });

  it('knows no entry never added, nor one already removed (404)', () => {
    s.given([]).when(remove('e1')).thenThrows('not_found');
    s.given([added(entry('e1'))])
      .when(remove('e2'))
      .thenThrows('not_found');
    s.given([added(entry('e1')), removed('e1')])
      .when(remove('e1'))
      .thenThrows('not_found');
  });

  it('folds one event at a time as it folds many at once, and leaves the state it starts from as it was', () => {
    const events = [
      added(entry('e1')),
      added(entry('e2', { channel: null })),
      removed('e1'),
      added(entry('e3', { pattern: 'ana@client.example' })),
    ];
    const oneByOne = events.reduce(allowlistDecider.evolve, allowlistDecider.initialState());
    expect([...fold(allowlistDecider, events).entries.keys()]).toEqual(['e2', 'e3']);
    expect(fold(allowlistDecider, events)).toEqual(oneByOne);
    const before = fold(allowlistDecider, events.slice(0, 2));
    fold(allowlistDecider, events.slice(2), before);
    expect([...before.entries.keys()]).toEqual(['e1', 'e2']);
  });
});
