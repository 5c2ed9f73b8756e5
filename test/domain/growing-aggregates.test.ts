import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALLOWLIST_LIMITS, type AllowlistEntry, type AllowlistEvent, allowlistDecider } from '../../src/domain/allowlist.js';
import { type ApprovalRulesEvent, MAX_APPROVAL_RULES, approvalRulesDecider } from '../../src/domain/approval-rules.js';
import { fold } from '../../src/domain/decider.js';
import { spec } from '../support/decider-spec.js';

const COMPANY = '00000000-0000-4000-8000-000000000001';
const NOW = '2030-01-01T00:00:00.000Z';
const entry = (i: number, extra: Partial<AllowlistEntry> = {}): AllowlistEntry => ({
  entryId: `e-${i}`,
  pattern: `r${i}@client.example`,
  channel: null,
  note: null,
  createdAt: NOW,
  createdBy: 'board:ana',
  ...extra,
});
const added = (e: AllowlistEntry): AllowlistEvent => ({ type: 'AllowlistEntryAdded', data: { companyId: COMPANY, entry: e } });
const removed = (entryId: string): AllowlistEvent => ({
  type: 'AllowlistEntryRemoved',
  data: { companyId: COMPANY, entryId, removedBy: 'board:ana', removedAt: NOW },
});
const full = Array.from({ length: ALLOWLIST_LIMITS.entries }, (_, i) => added(entry(i)));

describe('allowlist limits (given / when / then)', () => {
  const allowlist = spec(allowlistDecider);
  const add = (e: AllowlistEntry) => ({ type: 'AddAllowlistEntry' as const, companyId: COMPANY, entry: e });

  it(`takes the ${ALLOWLIST_LIMITS.entries}th entry`, () => {
    allowlist
      .given(full.slice(1))
      .when(add(entry(0)))
      .then([added(entry(0))]);
  });

  it(`refuses one more than ${ALLOWLIST_LIMITS.entries} entries (422), with the limit`, () => {
    allowlist
      .given(full)
      .when(add(entry(ALLOWLIST_LIMITS.entries)))
      .thenThrows('invalid_state', { limit: ALLOWLIST_LIMITS.entries });
  });

  it('makes room again once an entry is removed', () => {
    allowlist
      .given([...full, removed('e-7')])
      .when(add(entry(ALLOWLIST_LIMITS.entries)))
      .then([added(entry(ALLOWLIST_LIMITS.entries))]);
  });

  it('a pattern that is there already is a conflict even when the list is full', () => {
    allowlist
      .given(full)
      .when(add(entry(3, { entryId: 'again' })))
      .thenThrows('conflict', { existingId: 'e-3' });
  });

  it(`refuses a note over ${ALLOWLIST_LIMITS.noteLength} characters and a pattern over ${ALLOWLIST_LIMITS.patternLength}`, () => {
    allowlist
      .given([])
      .when(add(entry(1, { note: 'n'.repeat(ALLOWLIST_LIMITS.noteLength + 1) })))
      .thenThrows('invalid_input');
    allowlist
      .given([])
      .when(add(entry(1, { pattern: `${'a'.repeat(ALLOWLIST_LIMITS.patternLength)}@x.example` })))
      .thenThrows('invalid_input');
    const longest = entry(1, { note: 'n'.repeat(ALLOWLIST_LIMITS.noteLength) });
    allowlist
      .given([])
      .when(add(longest))
      .then([added(longest)]);
  });
});

describe('approval rule limits (given / when / then)', () => {
  const rules = spec(approvalRulesDecider);
  const ruleAdded = (i: number): ApprovalRulesEvent => ({
    type: 'ApprovalRuleAdded',
    data: {
      companyId: COMPANY,
      rule: { ruleId: `r-${i}`, predicate: { any: true }, action: 'auto_approve', priority: i, seq: i + 1, createdAt: NOW },
      addedBy: 'board:ana',
    },
  });
  const all = Array.from({ length: MAX_APPROVAL_RULES }, (_, i) => ruleAdded(i));
  const add = (i: number) => ({
    type: 'AddApprovalRule' as const,
    companyId: COMPANY,
    ruleId: `r-${i}`,
    predicate: { any: true as const },
    action: 'auto_approve' as const,
    priority: i,
    actor: 'board:ana',
    now: NOW,
  });

  it(`takes the ${MAX_APPROVAL_RULES}th rule and refuses one more (422), with the limit`, () => {
    rules
      .given(all.slice(0, -1))
      .when(add(MAX_APPROVAL_RULES - 1))
      .then([ruleAdded(MAX_APPROVAL_RULES - 1)]);
    rules.given(all).when(add(MAX_APPROVAL_RULES)).thenThrows('invalid_state', { limit: MAX_APPROVAL_RULES });
  });

  it('makes room again once a rule is deleted; updates are not counted', () => {
    const deleted: ApprovalRulesEvent = {
      type: 'ApprovalRuleDeleted',
      data: { companyId: COMPANY, ruleId: 'r-0', deletedBy: 'board:ana', deletedAt: NOW },
    };
    const updated: ApprovalRulesEvent = {
      type: 'ApprovalRuleUpdated',
      data: { companyId: COMPANY, ruleId: 'r-1', changes: { priority: 5 }, updatedBy: 'board:ana', updatedAt: NOW },
    };
    rules
      .given([...all, updated, updated, deleted])
      .when(add(MAX_APPROVAL_RULES))
      .then([ruleAdded(MAX_APPROVAL_RULES)]);
  });
});

describe('folding many events at once (properties)', () => {
  const allowlistEvent: fc.Arbitrary<AllowlistEvent> = fc.oneof(
    fc.integer({ min: 0, max: 20 }).map((i) => added(entry(i))),
    fc.integer({ min: 0, max: 20 }).map((i) => removed(`e-${i}`)),
  );
  const ruleEvent: fc.Arbitrary<ApprovalRulesEvent> = fc.oneof(
    fc.integer({ min: 0, max: 10 }).map((i) => ({
      type: 'ApprovalRuleAdded' as const,
      data: {
        companyId: COMPANY,
        rule: { ruleId: `r-${i}`, predicate: {}, action: 'queue_for_manual' as const, priority: i, seq: i * 3, createdAt: NOW },
        addedBy: 'b',
      },
    })),
    fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: -5, max: 5 })).map(([i, priority]) => ({
      type: 'ApprovalRuleUpdated' as const,
      data: { companyId: COMPANY, ruleId: `r-${i}`, changes: { priority }, updatedBy: 'b', updatedAt: NOW },
    })),
    fc.integer({ min: 0, max: 10 }).map((i) => ({
      type: 'ApprovalRuleDeleted' as const,
      data: { companyId: COMPANY, ruleId: `r-${i}`, deletedBy: 'b', deletedAt: NOW },
    })),
  );

  it('evolveMany gives the state evolve gives one event at a time, and leaves the state it starts from as it was', () => {
    fc.assert(
      fc.property(fc.array(allowlistEvent), fc.array(allowlistEvent), fc.array(ruleEvent), fc.array(ruleEvent), (a1, a2, r1, r2) => {
        const startA = a1.reduce(allowlistDecider.evolve, allowlistDecider.initialState());
        const beforeA = [...startA.entries];
        expect(allowlistDecider.evolveMany!(startA, a2)).toEqual(a2.reduce(allowlistDecider.evolve, startA));
        expect(fold(allowlistDecider, [...a1, ...a2])).toEqual(
          [...a1, ...a2].reduce(allowlistDecider.evolve, allowlistDecider.initialState()),
        );
        expect([...startA.entries]).toEqual(beforeA);

        const startR = r1.reduce(approvalRulesDecider.evolve, approvalRulesDecider.initialState());
        const beforeR = structuredClone(startR);
        expect(approvalRulesDecider.evolveMany!(startR, r2)).toEqual(r2.reduce(approvalRulesDecider.evolve, startR));
        expect(startR).toEqual(beforeR);
      }),
      { numRuns: 500 },
    );
  });
});
