import { readFile } from 'node:fs/promises';
import { DomainError } from '../domain/decider.js';
import { HOOK_REGISTRY_STREAM, type PostIssueHooksReloaded } from '../domain/post-issue-hooks.js';
import { INSTANCE_SCOPE } from '../domain/secret.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';
import {
  type Hook,
  type HookRegistry,
  HookRegistrySchema,
  type ParsedRegistry,
  hookMatches,
  parseHookRegistry,
  registrySummary,
  secretRefProblems,
} from '../hooks/registry.js';
import { deliverWebhook } from '../hooks/webhook.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { resolveSecret } from './secrets.js';

const EMPTY: { sha256: string | null; registry: HookRegistry } = { sha256: null, registry: { hooks: [] } };

/** The registry in force: the latest reload recorded in the log (shared by every instance). */
export async function currentHookRegistry(rt: Pick<Runtime, 'store'>): Promise<{ sha256: string | null; registry: HookRegistry }> {
  const [last] = (await readStreamIfAny(rt.store, HOOK_REGISTRY_STREAM, { direction: 'backwards', maxCount: 1 })) ?? [];
  if (!last) return EMPTY;
  const data = last.data as PostIssueHooksReloaded['data'];
  return { sha256: data.sha256, registry: HookRegistrySchema.parse(data.registry) };
}

/** The registry file, parsed, and checked against the secrets it names: valid only if both pass. */
async function readRegistryFile(rt: Pick<Runtime, 'store' | 'masterKey'>, path: string): Promise<ParsedRegistry> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false as const,
      problems: [{ message: code === 'ENOENT' ? 'the registry file does not exist' : 'the registry file cannot be read' }],
    };
  }
  const parsed = parseHookRegistry(text);
  if (!parsed.ok) return parsed;
  const problems = await secretRefProblems(parsed, async (ref) => {
    try {
      await resolveSecret(rt.store, rt.masterKey, ref, INSTANCE_SCOPE);
      return null;
    } catch (err) {
      if (err instanceof DomainError) return err.message;
      throw err;
    }
  });
  return problems.length > 0 ? { ok: false, problems } : parsed;
}

async function record(rt: Runtime, sha256: string, registry: HookRegistry, actor: Actor) {
  const r = await rt.store.append(
    HOOK_REGISTRY_STREAM,
    [
      {
        type: 'PostIssueHooksReloaded',
        data: { sha256, registry, source: rt.config.postIssueHooksPath, reloadedBy: actorLabel(actor), reloadedAt: rt.now().toISOString() },
        metadata: actorMetadata(actor),
      },
    ],
    'any',
  );
  return r.position;
}

/** Reloads the YAML file: a valid one is recorded and takes force; an invalid one is a 422 and changes nothing. */
export async function reloadHookRegistry(rt: Runtime, actor: Actor) {
  const parsed = await readRegistryFile(rt, rt.config.postIssueHooksPath);
  if (!parsed.ok)
    throw new DomainError('invalid_state', 'the post-issue hooks registry is invalid; the previous one stays in force', {
      problems: parsed.problems,
    });
  const position = await record(rt, parsed.sha256, parsed.registry, actor);
  return { sha256: parsed.sha256, hooks: registrySummary(parsed.registry), position };
}

/** At start: take the file's registry if it is valid and new; otherwise keep the one in force, and say why. */
export async function syncHookRegistryAtStart(rt: Runtime, actor: Actor, logger: Logger): Promise<void> {
  const parsed = await readRegistryFile(rt, rt.config.postIssueHooksPath);
  if (!parsed.ok) {
    logger.warn('post-issue hooks file not loaded; the registry in force stays', {
      path: rt.config.postIssueHooksPath,
      problems: parsed.problems,
    });
    return;
  }
  const current = await currentHookRegistry(rt);
  if (current.sha256 !== parsed.sha256) await record(rt, parsed.sha256, parsed.registry, actor);
}

export interface FinishedIssue {
  issueId: string;
  status: string;
  labels: string[];
  artifacts: { contentSha256: string; draft: string; channel: string | null }[];
}

async function runHook(rt: Runtime, hook: Hook, companyId: string, issue: FinishedIssue, actor: Actor) {
  if (hook.action === 'brand-voice-coverage') {
    const artifacts = [];
    for (const a of issue.artifacts) {
      const r = await rt.brandVoice.check(companyId, a, actor);
      artifacts.push({
        contentSha256: a.contentSha256,
        channel: a.channel,
        pass: r.pass,
        score: r.score,
        cached: r.cached,
        failed: r.failed,
      });
    }
    const passed = artifacts.filter((a) => a.pass).length;
    return {
      name: hook.name,
      action: hook.action,
      ok: true,
      passed,
      total: artifacts.length,
      share: artifacts.length ? passed / artifacts.length : null,
      artifacts,
    };
  }
  let key: string;
  try {
    // Checked again here: a registry recorded before instance secrets existed may name a company's secret.
    key = (await resolveSecret(rt.store, rt.masterKey, hook.secretRef, INSTANCE_SCOPE)).value;
  } catch {
    return { name: hook.name, action: hook.action, ok: false, error: 'the webhook secret cannot be resolved' };
  }
  const delivery = await deliverWebhook(hook.url, key, {
    hook: hook.name,
    companyId,
    issueId: issue.issueId,
    status: issue.status,
    labels: issue.labels,
    artifacts: issue.artifacts.map((a) => ({ contentSha256: a.contentSha256, channel: a.channel })),
    sentAt: rt.now().toISOString(),
  });
  return { name: hook.name, action: hook.action, ...delivery };
}

/** Runs the hooks that match a finished issue, in registry order, and reports each one's result. */
export async function runPostIssueHooks(rt: Runtime, companyId: string, issue: FinishedIssue, actor: Actor) {
  const { registry } = await currentHookRegistry(rt);
  const results = [];
  for (const hook of registry.hooks) {
    if (hookMatches(hook, issue)) results.push(await runHook(rt, hook, companyId, issue, actor));
  }
  return { issueId: issue.issueId, results };
}
