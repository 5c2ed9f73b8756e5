import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { SEND_CHANNELS } from './channels.js';
import type { Decider, DomainEvent } from './decider.js';

export const brandVoiceGuideStream = (companyId: string) => `crm_brand_voice_guide-${companyId}`;

const phrase = z.string().trim().min(1).max(200);

/** A company's brand-voice guide: what the deterministic checker enforces, and what an LLM checker is told. */
export const BrandVoiceGuideSchema = z
  .object({
    bannedPhrases: z.array(phrase).max(500).default([]),
    requiredPhrases: z.array(phrase).max(50).default([]),
    maxLength: z.partialRecord(z.enum(SEND_CHANNELS), z.number().int().min(1).max(1_000_000)).default({}),
    maxExclamationMarks: z.number().int().min(0).max(1000).nullable().default(null),
    /** Words of at least `minWordLength` letters written all in capitals; more than `maxAllCapsWords` is shouting. */
    shouting: z
      .object({ maxAllCapsWords: z.number().int().min(0).max(1000), minWordLength: z.number().int().min(2).max(50).default(3) })
      .strict()
      .nullable()
      .default(null),
    requiredSignOff: z.string().trim().min(1).max(500).nullable().default(null),
  })
  .strict();

export type BrandVoiceGuide = z.infer<typeof BrandVoiceGuideSchema>;

export const EMPTY_GUIDE: BrandVoiceGuide = BrandVoiceGuideSchema.parse({});

export type BrandVoiceGuideCommand = { type: 'SetBrandVoiceGuide'; companyId: string; guide: BrandVoiceGuide; actor: string; now: string };
export type BrandVoiceGuideEvent = DomainEvent<
  'BrandVoiceGuideSet',
  { companyId: string; version: number; guide: BrandVoiceGuide; setBy: string; setAt: string }
>;
export type BrandVoiceGuideState = { version: number; guide: BrandVoiceGuide; updatedAt: string | null };

export const brandVoiceGuideDecider: Decider<BrandVoiceGuideCommand, BrandVoiceGuideState, BrandVoiceGuideEvent> = {
  initialState: () => ({ version: 0, guide: EMPTY_GUIDE, updatedAt: null }),
  evolve: (_state, event) => ({ version: event.data.version, guide: event.data.guide, updatedAt: event.data.setAt }),
  decide(command, state) {
    // The same guide again is no new version: cached verdicts stay valid.
    if (state.version > 0 && canonicalJson(state.guide) === canonicalJson(command.guide)) return [];
    return [
      {
        type: 'BrandVoiceGuideSet',
        data: { companyId: command.companyId, version: state.version + 1, guide: command.guide, setBy: command.actor, setAt: command.now },
      },
    ];
  },
};
