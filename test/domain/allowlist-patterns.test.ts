import { describe, expect, it } from 'vitest';
import { type AllowlistEntry, allowedBy, normalizePattern } from '../../src/domain/allowlist.js';
import { canonicalRecipient, recipientKeys } from '../../src/domain/recipients.js';

const member = (to: string) => recipientKeys('linkedin', canonicalRecipient('linkedin', to)!);
const entry = (pattern: string): AllowlistEntry => ({
  entryId: pattern,
  pattern,
  channel: null,
  note: null,
  createdAt: '2030-01-01T00:00:00Z',
  createdBy: 't',
});

describe('allowlist patterns as stored', () => {
  it('a profile URL pattern, stored normalised, still allows that profile (and only it)', () => {
    const stored = normalizePattern('https://www.linkedin.com/in/Ana-Martin/')!;
    expect(stored).toEqual({ kind: 'url', pattern: 'linkedin.com/in/ana-martin' });
    expect(normalizePattern(stored.pattern)).toEqual(stored);
    expect(allowedBy([entry(stored.pattern)], member('https://linkedin.com/in/ana-martin'), 'linkedin')?.entryId).toBe(stored.pattern);
    expect(allowedBy([entry(stored.pattern)], member('https://www.linkedin.com/in/ana-martin-2/'), 'linkedin')).toBeNull();
  });

  it('every kind reads back as itself', () => {
    for (const raw of [
      '*',
      '*@Example.org',
      '*@Bücher.example',
      'Ana@Example.org',
      '+33612345678',
      '@Ana.Martin',
      'https://www.linkedin.com/in/Ana/',
      'ACoAAAcDMMQBODyLwZrRcgYhrkCafURGqva0U4E',
      '7012345678901234',
    ]) {
      const once = normalizePattern(raw)!;
      expect(normalizePattern(once.pattern), raw).toEqual(once);
    }
  });
});
