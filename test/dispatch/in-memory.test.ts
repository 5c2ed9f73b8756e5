import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChannelAdapter, ChannelAdapters } from '../../src/channels/port.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { AggregateCache } from '../../src/commands/aggregate-cache.js';
import { addAllowlistEntry } from '../../src/commands/allowlist.js';
import { addApprovalRule } from '../../src/commands/approval-rules.js';
import { Dispatcher } from '../../src/commands/dispatch.js';
import { createOutbox } from '../../src/commands/outboxes.js';
import { createSecret } from '../../src/commands/secrets.js';
import { activityStream } from '../../src/domain/activity.js';
import { createInMemoryEventStore } from '../../src/eventstore/in-memory-event-store.js';
import { type EventStore, WrongExpectedRevisionError } from '../../src/eventstore/port.js';
import { masterKeyFrom } from '../../src/secrets/crypto.js';

// The whole send path (policy, approvals, quota, adapter, outcome) on the in-memory event store: no database, no
// projection engine, so it runs in the fast tier. The suites in this folder run the same through HTTP on
// PGlite and PostgreSQL.

const master = masterKeyFrom(Buffer.alloc(32, 7));
const now = () => new Date();

/** `world({ conflicts: n })`: the first n appends of an outcome (ActivitySent) find another writer ahead of them. */
function world(options: { conflicts?: number } = {}) {
  const memory = createInMemoryEventStore();
  let conflicts = options.conflicts ?? 0;
  const store: EventStore = Object.create(memory, {
    append: {
      value: (...[stream, events, expected]: Parameters<EventStore['append']>) => {
        if (conflicts > 0 && events.some((e) => e.type === 'ActivitySent')) {
          conflicts--;
          return Promise.reject(new WrongExpectedRevisionError(stream, expected, 0));
        }
        return memory.append(stream, events, expected);
      },
    },
  });
  const cache = new AggregateCache(store);
  const sent: { to: string; activityId: string }[] = [];
  const email: ChannelAdapter = {
    async send(_outbox, _credential, message) {
      sent.push({ to: message.to, activityId: message.activityId });
      return { providerMessageId: `m-${sent.length}` };
    },
  };
  const adapters = { email } as unknown as ChannelAdapters;
  const dispatcher = new Dispatcher({
    store,
    sharedQuota: async () => ({ cap: null, limits: [] }),
    masterKey: master,
    adapters,
    now,
    leaseMs: 60_000,
    maxConcurrentSends: 8,
    cache,
  });

  async function company(options: { cap?: number; allow?: string; autoApprove?: boolean } = {}) {
    const companyId = randomUUID();
    const secret = await createSecret(store, master, { companyId, name: 'smtp', value: 'smtp://u:p@127.0.0.1:9' }, LOCAL_OPERATOR, now());
    const outbox = await createOutbox(
      store,
      master,
      {
        companyId,
        fields: {
          channel: 'email',
          niche: null,
          secretRef: secret.ref,
          config: { fromAddress: 'ops@example.com' },
          dailyCap: options.cap ?? 100,
          timezone: 'UTC',
        },
      },
      LOCAL_OPERATOR,
      now(),
    );
    await addAllowlistEntry(
      cache,
      { companyId, pattern: options.allow ?? '*@example.org', channel: null, note: null },
      LOCAL_OPERATOR,
      now(),
    );
    const rule =
      options.autoApprove !== false
        ? await addApprovalRule(cache, { companyId, predicate: { any: true }, action: 'auto_approve', priority: 1 }, LOCAL_OPERATOR, now())
        : null;
    const send = (to: string, extra: { clientDedupKey?: string } = {}) =>
      dispatcher.send(
        companyId,
        { channel: 'email', outboxId: outbox.id, to, payload: { subject: 'Hi', text: 'Hello' }, ...extra },
        LOCAL_OPERATOR,
      );
    return { companyId, ruleId: rule?.id ?? null, send };
  }
  const history = async (id: string) => (await store.readStream(activityStream(id))).map((e) => e.type);
  return { store, dispatcher, sent, company, history };
}

describe('the dispatcher on the in-memory event store', () => {
  it('an allowed, auto-approved send reaches the adapter once, under its canonical recipient, every step recorded', async () => {
    const w = world();
    const c = await w.company();
    const { result } = await c.send('Ana@Example.org');
    expect(result).toEqual({ id: expect.any(String), status: 'sent' });
    expect(w.sent).toEqual([{ to: 'ana@example.org', activityId: result.id }]);
    // The rule's approval is part of the dispatch's start: one event, naming the rule.
    expect(await w.history(result.id)).toEqual(['ActivityRequested', 'ActivityDispatching', 'ActivitySent']);
    const dispatching = (await w.store.readStream(activityStream(result.id)))[1]!;
    expect(dispatching.data).toMatchObject({ approvedByRule: c.ruleId });
  });

  it('outside the allowlist: blocked, nothing sent', async () => {
    const w = world();
    const c = await w.company({ allow: 'only@example.org' });
    expect((await c.send('other@example.org')).result.status).toBe('blocked_by_allowlist');
    expect(w.sent).toEqual([]);
  });

  it('the daily cap holds under concurrent sends: cap sent, the rest blocked by the quota', async () => {
    const w = world();
    const c = await w.company({ cap: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.send(`p${i}@example.org`)));
    const statuses = results.map((r) => r.result.status).sort();
    expect(statuses.filter((s) => s === 'sent')).toHaveLength(3);
    expect(statuses.filter((s) => s === 'blocked_by_quota')).toHaveLength(7);
    expect(w.sent).toHaveLength(3);
  });

  it('concurrent requests under one dedup key: one message, one answer', async () => {
    const w = world();
    const c = await w.company();
    const results = await Promise.all(Array.from({ length: 5 }, () => c.send('ana@example.org', { clientDedupKey: 'k-1' })));
    expect(new Set(results.map((r) => r.result.id)).size).toBe(1);
    expect(results.every((r) => r.result.status === 'sent')).toBe(true);
    expect(w.sent).toHaveLength(1);
  });

  it('no rule: waits for a person; approved, it is sent; rejected, it is not', async () => {
    const w = world();
    const c = await w.company({ autoApprove: false });
    const first = (await c.send('ana@example.org')).result;
    const second = (await c.send('bea@example.org')).result;
    expect([first.status, second.status]).toEqual(['draft_pending_approval', 'draft_pending_approval']);
    expect(w.sent).toEqual([]);
    const approved = await w.dispatcher.approve(c.companyId, [first.approvalId!], LOCAL_OPERATOR);
    expect(approved.results).toEqual([{ approvalId: first.approvalId, activityId: first.id, status: 'sent' }]);
    const rejected = await w.dispatcher.reject(c.companyId, [second.approvalId!], 'not now', LOCAL_OPERATOR);
    expect(rejected.results).toEqual([{ approvalId: second.approvalId, activityId: second.id, status: 'rejected' }]);
    expect(w.sent).toEqual([{ to: 'ana@example.org', activityId: first.id }]);
    // Decided once: a second approval of either is refused, and nothing changes.
    await expect(w.dispatcher.approve(c.companyId, [first.approvalId!], LOCAL_OPERATOR)).rejects.toMatchObject({ kind: 'conflict' });
    expect(w.sent).toHaveLength(1);
  });

  it('an outcome whose appends keep conflicting past the command loop’s attempts is still recorded, once', async () => {
    const w = world({ conflicts: 25 });
    const c = await w.company();
    const { result } = await c.send('ana@example.org');
    expect(result.status).toBe('sent');
    expect(w.sent).toHaveLength(1);
    expect(await w.history(result.id)).toEqual(['ActivityRequested', 'ActivityDispatching', 'ActivitySent']);
  });
});
