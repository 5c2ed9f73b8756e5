import { describe, expect, it } from 'vitest';
import { checkAgainstGuide } from '../../src/brand-voice/guide-checker.js';
import { BrandVoiceGuideSchema } from '../../src/domain/brand-voice-guide.js';

const guide = (g: Record<string, unknown>) => BrandVoiceGuideSchema.parse(g);

describe('the guide checker', () => {
  it('passes a clean draft with score 1', () => {
    expect(checkAgainstGuide('Hello there.', guide({}), 'email')).toEqual({ pass: true, score: 1, findings: [] });
  });

  it('finds banned phrases case-insensitively, every occurrence, with offsets', () => {
    const v = checkAgainstGuide('Act now! Really, ACT NOW.', guide({ bannedPhrases: ['act now'] }), null);
    expect(v.pass).toBe(false);
    expect(v.findings).toEqual([
      { rule: 'banned_phrase', message: 'banned phrase "act now"', start: 0, end: 7 },
      { rule: 'banned_phrase', message: 'banned phrase "act now"', start: 17, end: 24 },
    ]);
    expect(v.score).toBe(0.6);
  });

  it('wants required phrases and the sign-off', () => {
    const g = guide({ requiredPhrases: ['unsubscribe'], requiredSignOff: '— The Team' });
    expect(checkAgainstGuide('Hi. To unsubscribe reply STOP.\n— the team\n', g, null).pass).toBe(true);
    const v = checkAgainstGuide('Hi.', g, null);
    expect(v.findings.map((f) => f.rule).sort()).toEqual(['required_phrase', 'sign_off']);
  });

  it('limits length per channel only', () => {
    const g = guide({ maxLength: { linkedin: 10 } });
    expect(checkAgainstGuide('x'.repeat(12), g, 'linkedin').findings).toEqual([
      { rule: 'max_length', message: 'longer than 10 characters for linkedin', start: 10, end: 12 },
    ]);
    expect(checkAgainstGuide('x'.repeat(12), g, 'email').pass).toBe(true);
  });

  it('flags exclamation marks beyond the allowance and shouting beyond the limit', () => {
    expect(checkAgainstGuide('Wow! Great!! ', guide({ maxExclamationMarks: 1 }), null).findings.map((f) => f.start)).toEqual([10, 11]);
    const shout = guide({ shouting: { maxAllCapsWords: 1 } });
    expect(checkAgainstGuide('The FREE offer', shout, null).pass).toBe(true);
    expect(checkAgainstGuide('The FREE offer ENDS now, OK', shout, null).findings.map((f) => f.message)).toEqual([
      'all-caps word "FREE"',
      'all-caps word "ENDS"',
    ]);
  });
});
