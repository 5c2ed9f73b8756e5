import { describe, expect, it } from 'vitest';
import {
  type BrandVoiceGuide,
  type BrandVoiceGuideEvent,
  BrandVoiceGuideSchema,
  EMPTY_GUIDE,
  brandVoiceGuideDecider,
} from '../../src/domain/brand-voice-guide.js';
import { fold } from '../../src/domain/decider.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-12-02T10:00:00.000Z';
const later = '2026-12-02T11:00:00.000Z';
const companyId = '6f1f3c1e-0000-4000-8000-00000000000a';

const guide = (over: Partial<BrandVoiceGuide> = {}): BrandVoiceGuide =>
  BrandVoiceGuideSchema.parse({ bannedPhrases: ['act now'], maxLength: { email: 2000 }, ...over });
const setGuide = (g: BrandVoiceGuide, at = now) => ({
  type: 'SetBrandVoiceGuide' as const,
  companyId,
  guide: g,
  actor: 'board:u',
  now: at,
});
const set = (version: number, g: BrandVoiceGuide, at = now): BrandVoiceGuideEvent => ({
  type: 'BrandVoiceGuideSet',
  data: { companyId, version, guide: g, setBy: 'board:u', setAt: at },
});

describe('brand-voice guide decider', () => {
  const s = spec(brandVoiceGuideDecider);

  it('the first guide set is version 1, even an empty one', () => {
    s.given([])
      .when(setGuide(guide()))
      .then([set(1, guide())]);
    s.given([])
      .when(setGuide(EMPTY_GUIDE))
      .then([set(1, EMPTY_GUIDE)]);
  });

  it('another guide is the next version', () => {
    s.given([set(1, guide())])
      .when(setGuide(guide({ maxExclamationMarks: 1 }), later))
      .then([set(2, guide({ maxExclamationMarks: 1 }), later)]);
    s.given([set(1, guide()), set(2, EMPTY_GUIDE)])
      .when(setGuide(guide(), later))
      .then([set(3, guide(), later)]);
  });

  it('the same guide again is no new version, whoever sets it and in whatever key order', () => {
    s.given([set(1, guide())])
      .when(setGuide(guide(), later))
      .then([]);
    s.given([set(1, guide())])
      .when({ ...setGuide(guide(), later), actor: 'board:v' })
      .then([]);
    const reordered = Object.fromEntries(Object.entries(guide()).reverse()) as BrandVoiceGuide;
    s.given([set(1, guide())])
      .when(setGuide(reordered, later))
      .then([]);
    s.given([set(1, EMPTY_GUIDE)])
      .when(setGuide(EMPTY_GUIDE, later))
      .then([]);
  });

  it('compares with the latest version, not an earlier one', () => {
    s.given([set(1, guide()), set(2, EMPTY_GUIDE)])
      .when(setGuide(EMPTY_GUIDE, later))
      .then([]);
  });

  it('folds to the latest guide, its version and when it was set; the empty guide before any', () => {
    expect(fold(brandVoiceGuideDecider, [])).toEqual({ version: 0, guide: EMPTY_GUIDE, updatedAt: null });
    expect(fold(brandVoiceGuideDecider, [set(1, guide()), set(2, EMPTY_GUIDE, later)])).toEqual({
      version: 2,
      guide: EMPTY_GUIDE,
      updatedAt: later,
    });
  });
});
