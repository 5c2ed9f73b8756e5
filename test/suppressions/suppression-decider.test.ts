import { describe, expect, it } from 'vitest';
import {
  type SuppressionEntry,
  type SuppressionEvent,
  parseSuppressedRecipient,
  suppressedBy,
  suppressionDecider,
  suppressionId,
  suppressionStream,
  suppressionStreamsFor,
} from '../../src/domain/suppression.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-11-30T10:00:00.000Z';
const later = '2026-12-01T10:00:00.000Z';
const company = '6f1f3c1e-0000-4000-8000-000000000001';
const id = suppressionId(company, 'ana@example.org', 'email');
const entry = (over: Partial<SuppressionEntry> = {}): SuppressionEntry => ({
  suppressionId: id,
  companyId: company,
  recipient: 'ana@example.org',
  channel: 'email',
  source: 'manual',
  reason: 'manual',
  createdAt: now,
  createdBy: 'board:u',
  ...over,
});
const suppressed = (e = entry(), cause?: string): SuppressionEvent => ({
  type: 'RecipientSuppressed',
  data: { entry: e, ...(cause ? { cause } : {}) },
});
const lifted = {
  type: 'SuppressionLifted' as const,
  data: { suppressionId: id, companyId: company, recipient: 'ana@example.org', liftedBy: 'board:u', liftedAt: later },
};

describe('suppression decider', () => {
  const s = spec(suppressionDecider);

  it('suppresses once; suppressing again changes nothing, whatever the source', () => {
    s.given([]).when({ type: 'SuppressRecipient', entry: entry() }).then([suppressed()]);
    s.given([suppressed()])
      .when({ type: 'SuppressRecipient', entry: entry({ source: 'unsubscribe', reason: 'one_click', createdAt: later }) })
      .then([]);
  });

  it('lifts an active suppression; a lifted or unknown one is not found', () => {
    s.given([suppressed()])
      .when({ type: 'LiftSuppression', companyId: company, suppressionId: id, actor: 'board:u', now: later })
      .then([lifted]);
    s.given([suppressed(), lifted])
      .when({ type: 'LiftSuppression', companyId: company, suppressionId: id, actor: 'board:u', now: later })
      .thenThrows('not_found');
    s.given([])
      .when({ type: 'LiftSuppression', companyId: company, suppressionId: id, actor: 'board:u', now: later })
      .thenThrows('not_found');
  });

  it('another company cannot lift it', () => {
    s.given([suppressed()])
      .when({ type: 'LiftSuppression', companyId: '6f1f3c1e-0000-4000-8000-000000000002', suppressionId: id, actor: 'board:u', now: later })
      .thenThrows('not_found');
  });

  it('suppresses again after a lift', () => {
    const again = entry({ source: 'bounce', reason: 'smtp_550', createdAt: later });
    s.given([suppressed(), lifted])
      .when({ type: 'SuppressRecipient', entry: again })
      .then([suppressed(again)]);
  });
});

describe('suppression identity and matching', () => {
  it('one id per (company, recipient spelled any way, scope)', () => {
    expect(suppressionId(company, ' Ana@Example.ORG ', 'email')).toBe(id);
    expect(suppressionId(company, 'ana@example.org', null)).not.toBe(id);
    expect(suppressionId('6f1f3c1e-0000-4000-8000-000000000002', 'ana@example.org', 'email')).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('a send consults every-channel and its own channel, for each key and what it is delivered to', () => {
    expect(suppressionStreamsFor(company, ['ana@example.org'], 'email')).toEqual([
      suppressionStream(suppressionId(company, 'ana@example.org', null)),
      suppressionStream(id),
    ]);
    // A subaddress lands in the mailbox's inbox: the mailbox's suppressions hold for it.
    expect(suppressionStreamsFor(company, ['ana+news@example.org'], 'email')).toContain(suppressionStream(id));
    // Suppressions stored before domains were punycode are named by the Unicode spelling.
    expect(suppressionStreamsFor(company, ['ana@xn--bcher-kva.example'], 'email')).toContain(
      suppressionStream(suppressionId(company, 'ana@bücher.example', 'email')),
    );
  });

  it('matches an every-channel entry or one of the channel', () => {
    const fold = (...events: ReturnType<typeof suppressed>[]) =>
      events.reduce(suppressionDecider.evolve, suppressionDecider.initialState());
    expect(suppressedBy([fold(suppressed())], 'email')).toEqual(entry());
    expect(suppressedBy([fold(suppressed())], 'cal-com')).toBeNull();
    expect(suppressedBy([fold(suppressed(entry({ channel: null })))], 'linkedin')).toMatchObject({ channel: null });
    expect(suppressedBy([suppressionDecider.evolve(fold(suppressed()), lifted)], 'email')).toBeNull();
    expect(suppressedBy([], 'email')).toBeNull();
  });

  it('accepts recipients in their channel form, normalised', () => {
    expect(parseSuppressedRecipient(' Ana@Example.org', 'email')).toBe('ana@example.org');
    expect(parseSuppressedRecipient('+33612345678', 'whatsapp')).toBe('+33612345678');
    expect(parseSuppressedRecipient('+33612345678', null)).toBe('+33612345678');
    expect(parseSuppressedRecipient(' 7012345678901234 ', 'instagram')).toBe('7012345678901234');
    expect(parseSuppressedRecipient('https://www.linkedin.com/in/Ana-Doe/', 'linkedin')).toBe('linkedin.com/in/ana-doe');
    expect(parseSuppressedRecipient('@Ana-Doe', null)).toBe('linkedin.com/in/ana-doe');
    expect(parseSuppressedRecipient('Ana@Bücher.example', null)).toBe('ana@xn--bcher-kva.example');
    // The system's own sources name where a message went: read as delivered.
    expect(parseSuppressedRecipient('Ana <Ana@Example.org>', 'email', true)).toBe('ana@example.org');
    for (const [raw, channel] of [
      ['not an email', 'email'],
      ['ana@example', 'email'],
      ['+33612345678', 'email'],
      ['ana@example.org', 'whatsapp'],
      ['Ana <ana@example.org>', 'email'],
      ['"ana"@example.org', 'email'],
      ['+33 6 12 34 56 78', 'whatsapp'],
      ['@Jane.Doe', 'instagram'],
      ['https://example.com/in/ana', 'linkedin'],
      ['', null],
      ['two words', null],
      [`${'a'.repeat(320)}@example.org`, null],
    ] as const) {
      expect(parseSuppressedRecipient(raw, channel), `${raw} on ${channel}`).toBeNull();
    }
  });
});

// A webhook's report (a bounce, a complaint) names its cause: the id of the delivery event that reported it.
const bounce = (over: Partial<SuppressionEntry> = {}): SuppressionEntry =>
  entry({ source: 'bounce', reason: 'hard bounce reported by the email provider', createdBy: 'webhook:email', ...over });
const CAUSE = '0e5a2c1d-0000-4000-8000-0000000000c1';
const OTHER = '0e5a2c1d-0000-4000-8000-0000000000c2';
const noted = (cause: string, at = later): SuppressionEvent => ({
  type: 'SuppressionCauseNoted',
  data: { suppressionId: id, companyId: company, cause, source: 'bounce', notedAt: at },
});
const report = (cause: string, createdAt = later) => ({ type: 'SuppressRecipient' as const, entry: bounce({ createdAt }), cause });

describe('suppression decider: each report takes effect once', () => {
  const s = spec(suppressionDecider);

  it('a report suppresses, and records its cause', () => {
    s.given([])
      .when(report(CAUSE, now))
      .then([suppressed(bounce(), CAUSE)]);
  });

  it('the same report again changes nothing, also after a person lifted the suppression', () => {
    s.given([suppressed(bounce(), CAUSE)])
      .when(report(CAUSE))
      .then([]);
    s.given([suppressed(bounce(), CAUSE), lifted])
      .when(report(CAUSE))
      .then([]);
  });

  it('a report while already suppressed is noted, so that its replay after a lift changes nothing either', () => {
    const manual = suppressed(entry());
    s.given([manual])
      .when(report(CAUSE))
      .then([noted(CAUSE)]);
    s.given([manual, noted(CAUSE)])
      .when(report(CAUSE))
      .then([]);
    s.given([manual, noted(CAUSE), lifted])
      .when(report(CAUSE))
      .then([]);
  });

  it('a new report after a lift suppresses again; so does a person, or a source with no cause', () => {
    s.given([suppressed(bounce(), CAUSE), lifted])
      .when(report(OTHER))
      .then([suppressed(bounce({ createdAt: later }), OTHER)]);
    s.given([suppressed(bounce(), CAUSE), lifted])
      .when({ type: 'SuppressRecipient', entry: bounce({ source: 'manual' }) })
      .then([suppressed(bounce({ source: 'manual' }))]);
    // Without a cause, suppressing an active entry stays a no-op (nothing to remember).
    s.given([suppressed(bounce(), CAUSE)])
      .when({ type: 'SuppressRecipient', entry: bounce({ source: 'unsubscribe' }) })
      .then([]);
  });

  it('lifting still needs an active entry: a noted cause is not one', () => {
    s.given([suppressed(bounce(), CAUSE), lifted, noted(OTHER)])
      .when({ type: 'LiftSuppression', companyId: company, suppressionId: id, actor: 'board:u', now: later })
      .thenThrows('not_found');
  });
});
