import type { BrandVoiceGuide } from '../domain/brand-voice-guide.js';

/** Offsets are in UTF-16 code units of the draft (JavaScript string indices); end is exclusive. */
export interface Finding {
  rule: string;
  message: string;
  start: number;
  end: number;
}

export interface Verdict {
  pass: boolean;
  /** 0 (off-brand) to 1 (on-brand). */
  score: number;
  findings: Finding[];
}

export interface CheckInput {
  draft: string;
  guide: BrandVoiceGuide;
  channel: string | null;
}

/** The brand-voice checker port: the deterministic guide checker by default, an LLM when configured. */
export interface BrandVoiceChecker {
  readonly name: string;
  check(input: CheckInput): Promise<Verdict>;
}

export class CheckerFailedError extends Error {
  override readonly name = 'CheckerFailedError';
}
