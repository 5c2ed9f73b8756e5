import type { BrandVoiceGuide } from '../domain/brand-voice-guide.js';
import type { BrandVoiceChecker, Finding, Verdict } from './checker.js';

function occurrences(haystack: string, needle: string): number[] {
  const h = haystack.toLocaleLowerCase('en');
  const n = needle.toLocaleLowerCase('en');
  const out: number[] = [];
  for (let i = h.indexOf(n); i >= 0; i = h.indexOf(n, i + n.length)) out.push(i);
  return out;
}

/** Checks a draft against the guide's rules; pure and deterministic. */
export function checkAgainstGuide(draft: string, guide: BrandVoiceGuide, channel: string | null): Verdict {
  const findings: Finding[] = [];
  for (const p of guide.bannedPhrases) {
    for (const at of occurrences(draft, p))
      findings.push({ rule: 'banned_phrase', message: `banned phrase "${p}"`, start: at, end: at + p.length });
  }
  for (const p of guide.requiredPhrases) {
    if (occurrences(draft, p).length === 0)
      findings.push({ rule: 'required_phrase', message: `missing required phrase "${p}"`, start: 0, end: 0 });
  }
  const max = channel ? guide.maxLength[channel as keyof BrandVoiceGuide['maxLength']] : undefined;
  if (max !== undefined && draft.length > max) {
    findings.push({ rule: 'max_length', message: `longer than ${max} characters for ${channel}`, start: max, end: draft.length });
  }
  if (guide.maxExclamationMarks !== null) {
    const marks = [...draft.matchAll(/!/g)].map((m) => m.index!);
    for (const at of marks.slice(guide.maxExclamationMarks)) {
      findings.push({
        rule: 'exclamation_marks',
        message: `more than ${guide.maxExclamationMarks} exclamation marks`,
        start: at,
        end: at + 1,
      });
    }
  }
  if (guide.shouting) {
    const { maxAllCapsWords, minWordLength } = guide.shouting;
    const words = [...draft.matchAll(/\p{L}+/gu)].filter(
      (m) => m[0].length >= minWordLength && m[0] === m[0].toLocaleUpperCase('en') && m[0] !== m[0].toLocaleLowerCase('en'),
    );
    if (words.length > maxAllCapsWords) {
      for (const w of words)
        findings.push({ rule: 'shouting', message: `all-caps word "${w[0]}"`, start: w.index!, end: w.index! + w[0].length });
    }
  }
  if (guide.requiredSignOff !== null) {
    const trimmed = draft.trimEnd();
    if (!trimmed.toLocaleLowerCase('en').endsWith(guide.requiredSignOff.toLocaleLowerCase('en'))) {
      findings.push({ rule: 'sign_off', message: `must end with "${guide.requiredSignOff}"`, start: trimmed.length, end: trimmed.length });
    }
  }
  findings.sort((a, b) => a.start - b.start || a.rule.localeCompare(b.rule));
  const score = Math.max(0, Math.round((1 - findings.length * 0.2) * 100) / 100);
  return { pass: findings.length === 0, score, findings };
}

export const guideChecker: BrandVoiceChecker = {
  name: 'guide',
  check: async ({ draft, guide, channel }) => checkAgainstGuide(draft, guide, channel),
};
