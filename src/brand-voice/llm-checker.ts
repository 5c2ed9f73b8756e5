import { z } from 'zod';
import { type BrandVoiceChecker, CheckerFailedError, type Verdict } from './checker.js';

const VerdictSchema = z.object({
  pass: z.boolean(),
  score: z.number().min(0).max(1),
  findings: z
    .array(
      z.object({ rule: z.string().max(100), message: z.string().max(1000), start: z.number().int().min(0), end: z.number().int().min(0) }),
    )
    .max(200),
});

const CompletionSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
});

export interface LlmCheckerOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  timeoutMs: number;
}

const SYSTEM = `You check a draft message against a company's brand-voice guide.
Reply with a JSON object only: {"pass": boolean, "score": number from 0 to 1, "findings": [{"rule": string, "message": string, "start": number, "end": number}]}
where start and end are character offsets (end exclusive) into the draft. pass is true only when there are no findings.`;

/**
 * A checker behind an OpenAI-compatible chat-completions endpoint. Any failure (network, timeout, HTTP error,
 * an answer that is not the JSON asked for) is a `CheckerFailedError`: the caller reports a failed check and
 * never caches it.
 */
export function llmChecker(opts: LlmCheckerOptions): BrandVoiceChecker {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  return {
    name: `llm:${opts.model}`,
    async check({ draft, guide, channel }): Promise<Verdict> {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: opts.model,
            temperature: 0,
            response_format: { type: 'json_object' },
            messages: [
              { role: 'system', content: SYSTEM },
              { role: 'user', content: JSON.stringify({ guide, channel, draft }) },
            ],
          }),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (err) {
        const timedOut = (err as Error)?.name === 'TimeoutError';
        throw new CheckerFailedError(timedOut ? `the LLM checker timed out after ${opts.timeoutMs} ms` : 'the LLM checker is unreachable');
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new CheckerFailedError(`the LLM checker answered HTTP ${res.status}`);
      }
      try {
        const completion = CompletionSchema.parse(await res.json());
        const verdict = VerdictSchema.parse(JSON.parse(completion.choices[0]!.message.content));
        const findings = verdict.findings.map((f) => ({
          ...f,
          start: Math.min(f.start, draft.length),
          end: Math.min(Math.max(f.end, f.start), draft.length),
        }));
        return { pass: verdict.pass && findings.length === 0, score: verdict.score, findings };
      } catch {
        throw new CheckerFailedError('the LLM checker gave an answer that is not a verdict');
      }
    },
  };
}
