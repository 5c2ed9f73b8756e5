import { describe, it } from 'vitest';
import { type SuppressionEntry, type SuppressionEvent, suppressionDecider, suppressionId } from '../../src/domain/suppression.js';
import { spec } from '../support/decider-spec.js';

// A webhook's report (a bounce, a complaint) names its cause: the id of the delivery event that reported it.
const now = '2026-11-30T10:00:00.000Z';
const later = '2026-12-01T10:00:00.000Z';
const company = '6f1f3c1e-0000-4000-8000-000000000001';
const id = suppressionId(company, 'ana@example.org', 'email');
const entry = (over: Partial<SuppressionEntry> = {}): SuppressionEntry => ({
  suppressionId: id,
  companyId: company,
  recipient: 'ana@example.org',
  channel: 'email',
  source: 'bounce',
  reason: 'hard bounce reported by the email provider',
  createdAt: now,
  createdBy: 'webhook:email',
  ...over,
});
const CAUSE = '0e5a2c1d-0000-4000-8000-0000000000c1';
const OTHER = '0e5a2c1d-0000-4000-8000-0000000000c2';
const suppressed = (cause?: string, e = entry()): SuppressionEvent => ({ type: 'RecipientSuppressed', data: { entry: e, ...(cause ? { cause } : {}) } });
const lifted: SuppressionEvent = { type: 'SuppressionLifted', data: { suppressionId: id, companyId: company, recipient: 'ana@example.org', liftedBy: 'board:u', liftedAt: later } };
const noted = (cause: string, at = later): SuppressionEvent => ({ type: 'SuppressionCauseNoted', data: { suppressionId: id, companyId: company, cause, source: 'bounce', notedAt: at } });
const report = (cause: string, createdAt = later) => ({ type: 'SuppressRecipient' as const, entry: entry({ createdAt }), cause });

describe('suppression decider: each report takes effect once', () => {
  const s = spec(suppressionDecider);

  it('a report suppresses, and records its cause', () => {
    s.given([]).when(report(CAUSE, now)).then([suppressed(CAUSE)]);
  });

  it('the same report again changes nothing, also after a person lifted the suppression', () => {
    s.given([suppressed(CAUSE)]).when(report(CAUSE)).then([]);
    s.given([suppressed(CAUSE), lifted]).when(report(CAUSE)).then([]);
  });

  it('a report while already suppressed is noted, so that its replay after a lift changes nothing either', () => {
    const manual = suppressed(undefined, entry({ source: 'manual', reason: 'manual', createdBy: 'board:u' }));
    s.given([manual]).when(report(CAUSE)).then([noted(CAUSE)]);
    s.given([manual, noted(CAUSE)]).when(report(CAUSE)).then([]);
    s.given([manual, noted(CAUSE), lifted]).when(report(CAUSE)).then([]);
  });

  it('a new report after a lift suppresses again; so does a person, or a source with no cause', () => {
    s.given([suppressed(CAUSE), lifted]).when(report(OTHER)).then([suppressed(OTHER, entry({ createdAt: later }))]);
    s.given([suppressed(CAUSE), lifted]).when({ type: 'SuppressRecipient', entry: entry({ source: 'manual' }) }).then([suppressed(undefined, entry({ source: 'manual' }))]);
    // Without a cause, suppressing an active entry stays a no-op (nothing to remember).
    s.given([suppressed(CAUSE)]).when({ type: 'SuppressRecipient', entry: entry({ source: 'unsubscribe' }) }).then([]);
  });

  it('lifting still needs an active entry: a noted cause is not one', () => {
    s.given([suppressed(CAUSE), lifted, noted(OTHER)])
      .when({ type: 'LiftSuppression', companyId: company, suppressionId: id, actor: 'board:u', now: later })
      .thenThrows('not_found');
  });
});
