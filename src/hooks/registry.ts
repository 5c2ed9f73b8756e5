import { createHash } from 'node:crypto';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseSecretRef } from '../secrets/secret-ref.js';

const label = z.string().trim().min(1).max(100);

const On = z.object({ statuses: z.array(label).min(1).max(50).optional(), labels: z.array(label).min(1).max(50).optional() }).strict();

const Common = { name: z.string().trim().min(1).max(100), on: On.optional() };

const Hook = z.discriminatedUnion('action', [
  z.object({ ...Common, action: z.literal('brand-voice-coverage') }).strict(),
  z
    .object({
      ...Common,
      action: z.literal('webhook'),
      url: z.url({ protocol: /^https?$/ }),
      secretRef: z.string().refine((r) => parseSecretRef(r) !== null, 'secretRef must be secret://<uuid>:<version|latest>'),
    })
    .strict(),
]);

export const HookRegistrySchema = z
  .object({ hooks: z.array(Hook).max(200) })
  .strict()
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.hooks.forEach((h, i) => {
      if (seen.has(h.name)) ctx.addIssue({ code: 'custom', path: ['hooks', i, 'name'], message: `hook name "${h.name}" is used twice` });
      seen.add(h.name);
    });
  });

export type HookRegistry = z.infer<typeof HookRegistrySchema>;
export type Hook = HookRegistry['hooks'][number];

export interface RegistryProblem {
  message: string;
  line?: number;
  column?: number;
  path?: (string | number)[];
}

export type ParsedRegistry =
  | {
      ok: true;
      registry: HookRegistry;
      sha256: string;
      /** Where a path of the registry is written in the file, for problems found after parsing. */
      locate(path: (string | number)[]): { line: number; column: number } | undefined;
    }
  | { ok: false; problems: RegistryProblem[] };

export const registrySummary = (r: HookRegistry) => r.hooks.map((h) => ({ name: h.name, on: h.on ?? null, action: h.action }));

/** Parses and validates the YAML registry, pointing each problem at its line and column. */
export function parseHookRegistry(text: string): ParsedRegistry {
  const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.slice(0, 20).map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { message: e.message.split('\n')[0]!, line: pos.line, column: pos.col };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    return { ok: false, problems: [{ message: err instanceof Error ? err.message.split('\n')[0]! : 'the YAML cannot be read' }] };
  }
  // Points at the deepest node of the path that exists in the document.
  const locate = (path: (string | number)[]) => {
    let node: unknown;
    for (let n = path.length; n >= 0 && !node; n--) node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (!range) return undefined;
    const pos = lineCounter.linePos(range[0]);
    return { line: pos.line, column: pos.col };
  };
  const parsed = HookRegistrySchema.safeParse(value);
  if (parsed.success) return { ok: true, registry: parsed.data, sha256, locate };
  return {
    ok: false,
    problems: parsed.error.issues.slice(0, 20).map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      const pos = locate(path);
      return { message: issue.message, path, line: pos?.line, column: pos?.column };
    }),
  };
}

/**
 * The problems only the secrets store can tell: hooks run for every company, so each webhook must sign with an
 * instance secret. `refusal` says why a reference cannot be used in the instance's scope, or null.
 */
export async function secretRefProblems(
  parsed: Extract<ParsedRegistry, { ok: true }>,
  refusal: (secretRef: string) => Promise<string | null>,
): Promise<RegistryProblem[]> {
  const problems: RegistryProblem[] = [];
  for (const [i, hook] of parsed.registry.hooks.entries()) {
    if (hook.action !== 'webhook') continue;
    const why = await refusal(hook.secretRef);
    if (!why) continue;
    const path = ['hooks', i, 'secretRef'];
    const pos = parsed.locate(path);
    problems.push({ message: `hook "${hook.name}": ${why}`, path, line: pos?.line, column: pos?.column });
  }
  return problems;
}

export function hookMatches(hook: Hook, issue: { status: string; labels: string[] }): boolean {
  if (!hook.on) return true;
  if (hook.on.statuses && !hook.on.statuses.includes(issue.status)) return false;
  if (hook.on.labels && !hook.on.labels.every((l) => issue.labels.includes(l))) return false;
  return true;
}
