import { randomUUID } from 'node:crypto';
import { LOCAL_OPERATOR } from '../src/commands/actor.js';
import { addAllowlistEntry } from '../src/commands/allowlist.js';
import { addApprovalRule } from '../src/commands/approval-rules.js';
import { createOutbox } from '../src/commands/outboxes.js';
import { createSecret } from '../src/commands/secrets.js';
import type { QuotaLimit } from '../src/domain/quota-limits.js';
import type { Runtime } from '../src/runtime.js';
import { round } from './support.js';

/**
 * A company ready to send email in a benchmark: `credentials` outboxes, each on its own credential with `cap` a
 * day; `allowlist` entries before the one that allows the recipients (`*`), so that every send scans them all; an
 * auto-approving rule; `limits` on each outbox beyond its cap. `allowlistAddMs`: the mean cost of adding those entries.
 */
export async function benchCompany(rt: Runtime, opts: { cap: number; credentials?: number; allowlist?: number; limits?: QuotaLimit[] }) {
  const now = () => new Date();
  const companyId = randomUUID();
  const outboxes: string[] = [];
  for (let i = 0; i < (opts.credentials ?? 1); i++) {
    const secret = await createSecret(
      rt.store,
      rt.masterKey,
      { companyId, name: `smtp-${i}`, value: 'smtp://bench@127.0.0.1:9' },
      LOCAL_OPERATOR,
      now(),
    );
    const fields = {
      channel: 'email' as const,
      niche: null,
      secretRef: secret.ref,
      config: { fromAddress: 'ops@example.com' },
      dailyCap: opts.cap,
      timezone: 'UTC',
      limits: opts.limits ?? [],
    };
    const o = await createOutbox(rt.store, rt.masterKey, { companyId, fields }, LOCAL_OPERATOR, now());
    outboxes.push(o.id);
    if (o.position) await rt.engine.waitFor(o.position, { timeoutMs: 30_000 });
  }
  const allowlist = opts.allowlist ?? 0;
  const started = performance.now();
  for (let i = 1; i < allowlist; i++) {
    const entry = { companyId, pattern: `someone-${i}@elsewhere.example`, channel: null, note: 'bench' };
    await addAllowlistEntry(rt.aggregates, entry, LOCAL_OPERATOR, now());
  }
  const setupMs = performance.now() - started;
  await addAllowlistEntry(rt.aggregates, { companyId, pattern: '*', channel: null, note: null }, LOCAL_OPERATOR, now());
  await addApprovalRule(rt.aggregates, { companyId, predicate: { any: true }, action: 'auto_approve', priority: 1 }, LOCAL_OPERATOR, now());
  return { companyId, outboxes, allowlistAddMs: allowlist > 1 ? round(setupMs / (allowlist - 1), 2) : undefined };
}
