import type { DomainEvent } from './decider.js';

/** One instance-wide registry: every reload is an event, and every instance runs the latest. */
export const HOOK_REGISTRY_STREAM = 'crm_post_issue_hooks-registry';

export type PostIssueHooksReloaded = DomainEvent<
  'PostIssueHooksReloaded',
  { sha256: string; registry: { hooks: Record<string, unknown>[] }; source: string; reloadedBy: string; reloadedAt: string }
>;
