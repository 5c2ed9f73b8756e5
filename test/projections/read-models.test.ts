import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessTokenEvent } from '../../src/domain/access-token.js';
import type { ActivityEvent, ActivityRequest } from '../../src/domain/activity.js';
import type { AllowlistEvent } from '../../src/domain/allowlist.js';
import type { ApprovalEvent } from '../../src/domain/approval.js';
import type { ApprovalRulesEvent } from '../../src/domain/approval-rules.js';
import type { ContentPieceEvent } from '../../src/domain/content-piece.js';
import type { DomainEvent } from '../../src/domain/decider.js';
import type { EnrollmentEvent } from '../../src/domain/enrollment.js';
import type { OutboxEvent } from '../../src/domain/outbox.js';
import type { QuotaBucketEvent } from '../../src/domain/quota-bucket.js';
import type { SecretEvent } from '../../src/domain/secret.js';
import type { SuppressionEvent } from '../../src/domain/suppression.js';
import type { RecordedEvent } from '../../src/eventstore/port.js';
import { accessTokensProjection, findTokenByHash, listAgentKeys, tokenView } from '../../src/projections/access-tokens.js';
import { activitiesProjection, getActivity, listActivities } from '../../src/projections/activities.js';
import { activityAliasesProjection } from '../../src/projections/activity-aliases.js';
import { activityDeliveriesProjection, deliveryOf } from '../../src/projections/activity-deliveries.js';
import { allowlistProjection, listAllowlist } from '../../src/projections/allowlist.js';
import { approvalRulesProjection, listApprovalRules } from '../../src/projections/approval-rules.js';
import { approvalsProjection, listApprovals } from '../../src/projections/approvals.js';
import { type BrandVoiceCheckedEvent, brandVoiceCacheProjection, findCachedVerdict } from '../../src/projections/brand-voice-cache.js';
import { decodeCursor } from '../../src/http/cursor.js';
import { contentPiecesProjection, getContentPiece, listContentPieces } from '../../src/projections/content-pieces.js';
import { enrollmentsProjection } from '../../src/projections/enrollments.js';
import { credentialBucketsProjection, listCredentialBuckets } from '../../src/projections/credential-buckets.js';
import { getOutbox, listOutboxes, outboxesProjection, sharedQuotaLookup } from '../../src/projections/outboxes.js';
import type { Projection } from '../../src/projections/projection.js';
import { listSecrets, secretIdNamed, secretsProjection } from '../../src/projections/secrets.js';
import { listSuppressions, suppressionsProjection } from '../../src/projections/suppressions.js';
import type { Db } from '../../src/sql/db.js';
import { type TestBackend, sqlBackend } from '../support/stores.js';

// Given recorded events (built from the domain's event types), when the read model applies them, then its own
// query functions read these rows. Each test uses a fresh company, so the tables need no cleaning.
let b: TestBackend;
beforeAll(async () => {
  b = await sqlBackend('pglite');
});
afterAll(async () => {
  await b?.drop();
});

let position = 0n;
function recorded<E extends DomainEvent>(streamName: string, events: E[]): RecordedEvent[] {
  return events.map((e, i) => {
    position += 1n;
    return {
      ...e,
      id: randomUUID(),
      streamName,
      metadata: {},
      revision: i,
      position: { commit: position, prepare: position },
      recordedAt: new Date(),
    };
  });
}

/** As the engine applies a batch: only the types the read model lists, in one transaction. */
async function given(p: Projection, events: RecordedEvent[]) {
  const listed = events.filter((e) => !p.eventTypes || p.eventTypes.includes(e.type));
  await b.db.transaction((tx) => p.apply(listed, { tx, table: (t) => t }));
}

const at = (minute: number) => new Date(Date.UTC(2026, 2, 1, 9, minute)).toISOString();

describe('allowlist', () => {
  it('lists entries added and not removed, oldest first', async () => {
    const companyId = randomUUID();
    const [a, c, d] = [randomUUID(), randomUUID(), randomUUID()];
    const entry = (entryId: string, pattern: string, minute: number) =>
      ({
        type: 'AllowlistEntryAdded',
        data: { companyId, entry: { entryId, pattern, channel: null, note: null, createdAt: at(minute), createdBy: 'board' } },
      }) as const;
    await given(
      allowlistProjection,
      recorded<AllowlistEvent>(`allowlist-${companyId}`, [
        entry(a, '*@a.test', 1),
        entry(c, 'c@c.test', 2),
        entry(d, '*@d.test', 3),
        { type: 'AllowlistEntryRemoved', data: { companyId, entryId: c, removedBy: 'board', removedAt: at(4) } },
      ]),
    );
    const page = await listAllowlist(b.db, companyId, { limit: 10 });
    expect(page.items.map((i) => [i.id, i.pattern, i.createdAt.toISOString()])).toEqual([
      [a, '*@a.test', at(1)],
      [d, '*@d.test', at(3)],
    ]);
    expect(page.nextCursor).toBeNull();
  });
});

describe('suppressions', () => {
  it('lists those in force, newest first; a lift deletes, a new suppression of the id replaces', async () => {
    const companyId = randomUUID();
    const [x, y] = [randomUUID(), randomUUID()];
    const suppressed = (suppressionId: string, recipient: string, minute: number, reason: string) =>
      ({
        type: 'RecipientSuppressed',
        data: {
          entry: {
            suppressionId,
            companyId,
            recipient,
            channel: null,
            source: 'manual',
            reason,
            createdAt: at(minute),
            createdBy: 'board',
          },
        },
      }) as const;
    await given(
      suppressionsProjection,
      recorded<SuppressionEvent>(`suppression-${companyId}`, [
        suppressed(x, 'x@x.test', 1, 'first'),
        suppressed(y, 'y@y.test', 2, 'manual'),
        { type: 'SuppressionLifted', data: { suppressionId: x, companyId, recipient: 'x@x.test', liftedBy: 'board', liftedAt: at(3) } },
        suppressed(x, 'x@x.test', 4, 'again'),
        { type: 'SuppressionCauseNoted', data: { suppressionId: x, companyId, cause: 'c1', source: 'manual', notedAt: at(5) } },
      ]),
    );
    const page = await listSuppressions(b.db, companyId, { limit: 10 });
    expect(page.items.map((i) => [i.id, i.recipient, i.reason, i.createdAt.toISOString()])).toEqual([
      [x, 'x@x.test', 'again', at(4)],
      [y, 'y@y.test', 'manual', at(2)],
    ]);
  });
});

describe('approvals', () => {
  it('lists requests with their decision, by status', async () => {
    const companyId = randomUUID();
    const [p1, p2, p3] = [randomUUID(), randomUUID(), randomUUID()];
    const requested = (approvalId: string, minute: number) =>
      ({
        type: 'ApprovalRequested',
        data: {
          approvalId,
          activityId: randomUUID(),
          companyId,
          outboxId: randomUUID(),
          channel: 'email',
          to: 'a@a.test',
          ruleId: null,
          at: at(minute),
        },
      }) as const;
    await given(approvalsProjection, [
      ...recorded<ApprovalEvent>(`approval-${p1}`, [
        requested(p1, 1),
        { type: 'ApprovalGranted', data: { approvalId: p1, by: 'board', at: at(5) } },
      ]),
      ...recorded<ApprovalEvent>(`approval-${p2}`, [
        requested(p2, 2),
        { type: 'ApprovalRejected', data: { approvalId: p2, by: 'board', reason: 'tone', at: at(6) } },
      ]),
      // From the console's approvals page on, the request carries the message it would send.
      ...recorded<ApprovalEvent>(`approval-${p3}`, [
        { ...requested(p3, 3), data: { ...requested(p3, 3).data, payload: { subject: 'Hi', text: 'Hello' } } },
      ]),
    ]);
    const all = await listApprovals(b.db, companyId, undefined);
    expect(all.map((a) => [a.id, a.status, a.decidedBy, a.reason, a.decidedAt?.toISOString() ?? null])).toEqual([
      [p1, 'approved', 'board', null, at(5)],
      [p2, 'rejected', 'board', 'tone', at(6)],
      [p3, 'pending', null, null, null],
    ]);
    expect((await listApprovals(b.db, companyId, 'pending')).map((a) => [a.id, a.payload])).toEqual([
      [p3, { subject: 'Hi', text: 'Hello' }],
    ]);
    // Requested before: no message recorded with it (its activity's history has it).
    expect(all[0]!.payload).toBeNull();
  });
});

describe('secrets', () => {
  it('lists metadata with the latest version, found by name whatever its case', async () => {
    const companyId = randomUUID();
    const secretId = randomUUID();
    const sealed = { alg: 'aes-256-gcm', keyId: 'k1', iv: 'aXY', tag: 'dGFn', data: 'ZGF0YQ' } as const;
    await given(
      secretsProjection,
      recorded<SecretEvent>(`secret-${secretId}`, [
        {
          type: 'SecretCreated',
          data: { secretId, companyId, name: 'SMTP password', version: 1, sealed, createdBy: 'board', createdAt: at(1) },
        },
        { type: 'SecretVersionAdded', data: { secretId, companyId, version: 2, sealed, addedBy: 'board', addedAt: at(2) } },
      ]),
    );
    const [s, ...rest] = await listSecrets(b.db, companyId);
    expect(rest).toEqual([]);
    expect([s?.id, s?.name, s?.latestVersion, s?.createdAt.toISOString(), s?.updatedAt.toISOString()]).toEqual([
      secretId,
      'SMTP password',
      2,
      at(1),
      at(2),
    ]);
    expect(JSON.stringify(s)).not.toContain(sealed.data);
    expect(await secretIdNamed(b.db, companyId, ' smtp PASSWORD ')).toBe(secretId);
  });
});

describe('brand voice cache', () => {
  it('finds a verdict by content, guide version and channel', async () => {
    const companyId = randomUUID();
    const verdict = { pass: false, score: 0.42, findings: [{ rule: 'no-exclamations', message: 'Too loud', start: 3, end: 4 }] };
    await given(
      brandVoiceCacheProjection,
      recorded<BrandVoiceCheckedEvent>(`brand-voice-${companyId}`, [
        {
          type: 'BrandVoiceChecked',
          data: { companyId, contentSha256: 'ab'.repeat(32), guideVersion: 3, channel: null, verdict, checker: 'rules', checkedAt: at(1) },
        },
      ]),
    );
    expect(await findCachedVerdict(b.db, companyId, 'ab'.repeat(32), 3, null)).toEqual(verdict);
    expect(await findCachedVerdict(b.db, companyId, 'ab'.repeat(32), 4, null)).toBeNull();
    expect(await findCachedVerdict(b.db, companyId, 'ab'.repeat(32), 3, 'email')).toBeNull();
  });
});

describe('outboxes', () => {
  it('lists live outboxes with their changes applied, a deleted one gone, and the smallest cap on a shared credential', async () => {
    const companyId = randomUUID();
    const [o1, o2, credentialId] = [randomUUID(), randomUUID(), randomUUID()];
    const fields = {
      channel: 'email',
      niche: null,
      secretRef: `secret:${credentialId}`,
      credentialId,
      config: { from: 'a@a.test' },
      dailyCap: 50,
      timezone: 'UTC',
    } as const;
    await given(outboxesProjection, [
      ...recorded<OutboxEvent>(`outbox-${o1}`, [
        { type: 'OutboxCreated', data: { outboxId: o1, companyId, fields, createdBy: 'board', createdAt: at(1) } },
        {
          type: 'OutboxUpdated',
          data: { outboxId: o1, companyId, changes: { dailyCap: 20, niche: 'dentists' }, updatedBy: 'board', updatedAt: at(2) },
        },
      ]),
      ...recorded<OutboxEvent>(`outbox-${o2}`, [
        {
          type: 'OutboxCreated',
          data: { outboxId: o2, companyId, fields: { ...fields, dailyCap: 10 }, createdBy: 'board', createdAt: at(3) },
        },
        { type: 'OutboxDeleted', data: { outboxId: o2, companyId, deletedBy: 'board', deletedAt: at(4) } },
      ]),
    ]);
    expect((await listOutboxes(b.db, companyId)).map((o) => [o.id, o.dailyCap, o.niche, o.config, o.updatedAt.toISOString()])).toEqual([
      [o1, 20, 'dentists', { from: 'a@a.test' }, at(2)],
    ]);
    expect(await getOutbox(b.db, companyId, o2)).toBeNull();
    expect(await sharedQuotaLookup(b.db)({ companyId, credentialId })).toEqual({ cap: 20, limits: [] });
  });

  it('answers the credentials asked in one turn with one query, each its own: another company and a credential without outboxes apart', async () => {
    const [companyA, companyB] = [randomUUID(), randomUUID()];
    const [shared, lonely, unknown] = [randomUUID(), randomUUID(), randomUUID()];
    const outbox = (companyId: string, credentialId: string, dailyCap: number, minute: number): RecordedEvent[] => {
      const outboxId = randomUUID();
      const fields = {
        channel: 'email',
        niche: null,
        secretRef: `secret:${credentialId}`,
        credentialId,
        config: {},
        dailyCap,
        timezone: 'UTC',
      } as const;
      return recorded<OutboxEvent>(`outbox-${outboxId}`, [
        { type: 'OutboxCreated', data: { outboxId, companyId, fields, createdBy: 'board', createdAt: at(minute) } },
      ]);
    };
    // The same credential id under two companies: each company's outboxes hold only its own sends.
    await given(outboxesProjection, [
      ...outbox(companyA, shared, 40, 1),
      ...outbox(companyA, shared, 30, 2),
      ...outbox(companyB, shared, 5, 3),
      ...outbox(companyA, lonely, 70, 4),
    ]);
    let queries = 0;
    const counted: Db = { ...b.db, query: (text, params) => (queries++, b.db.query(text, params)) };
    const lookup = sharedQuotaLookup(counted);
    const answers = await Promise.all([
      lookup({ companyId: companyA, credentialId: shared }),
      lookup({ companyId: companyB, credentialId: shared }),
      lookup({ companyId: companyA, credentialId: lonely }),
      lookup({ companyId: companyA, credentialId: unknown }),
      lookup({ companyId: companyA, credentialId: shared }),
    ]);
    expect(answers.map((a) => a.cap)).toEqual([30, 5, 70, null, 30]);
    expect(queries).toBe(1);
    // A later turn asks again: it sees what was written since.
    await given(outboxesProjection, outbox(companyA, unknown, 9, 5));
    expect((await lookup({ companyId: companyA, credentialId: unknown })).cap).toBe(9);
    expect(queries).toBe(2);
  });

  it('shares the tightest limit of each kind on a credential: own limits, changes, and a channel default', async () => {
    const companyId = randomUUID();
    const [o1, o2, credentialId] = [randomUUID(), randomUUID(), randomUUID()];
    const fields = {
      channel: 'linkedin',
      niche: null,
      secretRef: `secret:${credentialId}`,
      credentialId,
      config: {},
      dailyCap: 50,
      timezone: 'UTC',
    } as const;
    const limit = (max: number, per: 'hour' | '7d' | 'day') => ({ max, per, unit: 'sends' as const });
    await given(outboxesProjection, [
      // Before issue 18 an outbox had no `limits`: its channel's default (100 per 7d) applies.
      ...recorded<OutboxEvent>(`outbox-${o1}`, [
        { type: 'OutboxCreated', data: { outboxId: o1, companyId, fields, createdBy: 'board', createdAt: at(1) } },
      ]),
      ...recorded<OutboxEvent>(`outbox-${o2}`, [
        {
          type: 'OutboxCreated',
          data: { outboxId: o2, companyId, fields: { ...fields, limits: [limit(200, '7d')] }, createdBy: 'board', createdAt: at(2) },
        },
        {
          type: 'OutboxUpdated',
          data: {
            outboxId: o2,
            companyId,
            changes: { limits: [limit(150, '7d'), limit(5, 'hour'), limit(30, 'day')] },
            updatedBy: 'board',
            updatedAt: at(3),
          },
        },
      ]),
    ]);
    const shared = await sharedQuotaLookup(b.db)({ companyId, credentialId });
    expect(shared.cap).toBe(30);
    expect([...shared.limits].sort((x, y) => x.per.localeCompare(y.per))).toEqual([limit(100, '7d'), limit(5, 'hour')]);
    const o2View = await getOutbox(b.db, companyId, o2);
    expect(o2View?.limits).toEqual([limit(150, '7d'), limit(5, 'hour'), limit(30, 'day')]);
    expect((await getOutbox(b.db, companyId, o1))?.effectiveLimits).toEqual([limit(100, '7d')]);
  });
});

describe('access tokens', () => {
  it('finds a token by its hash, lists agent keys, and shows a revocation', async () => {
    const companyId = randomUUID();
    const [board, agent] = [randomUUID(), randomUUID()];
    await given(accessTokensProjection, [
      ...recorded<AccessTokenEvent>(`access-token-${board}`, [
        {
          type: 'BoardTokenIssued',
          data: {
            tokenId: board,
            tokenHash: `h-${board}`,
            userId: 'u1',
            instanceAdmin: false,
            companyIds: [companyId],
            expiresAt: null,
            issuedBy: 'cli',
            issuedAt: at(1),
          },
        },
      ]),
      ...recorded<AccessTokenEvent>(`access-token-${agent}`, [
        {
          type: 'AgentKeyIssued',
          data: { tokenId: agent, tokenHash: `h-${agent}`, agentId: 'agent-7', companyId, issuedBy: 'u1', issuedAt: at(2) },
        },
        { type: 'AccessTokenRevoked', data: { tokenId: agent, revokedBy: 'u1', revokedAt: at(3) } },
      ]),
    ]);
    const found = await findTokenByHash(b.db, `h-${board}`);
    expect(found && tokenView(found)).toMatchObject({
      id: board,
      userId: 'u1',
      instanceAdmin: false,
      companyIds: [companyId],
      expiresAt: null,
      revokedAt: null,
    });
    const keys = (await listAgentKeys(b.db, companyId)).map(tokenView);
    expect(keys).toMatchObject([{ id: agent, agentId: 'agent-7', companyId, revokedAt: new Date(at(3)) }]);
  });
});

describe('approval rules', () => {
  it('lists rules in evaluation order (priority, then creation) with their changes, a deleted one gone', async () => {
    const companyId = randomUUID();
    const [r1, r2, r3] = [randomUUID(), randomUUID(), randomUUID()];
    const added = (ruleId: string, priority: number, seq: number) =>
      ({
        type: 'ApprovalRuleAdded',
        data: {
          companyId,
          rule: { ruleId, predicate: { any: true }, action: 'queue_for_manual', priority, seq, createdAt: at(seq) },
          addedBy: 'board',
        },
      }) as const;
    await given(
      approvalRulesProjection,
      recorded<ApprovalRulesEvent>(`approval-rules-${companyId}`, [
        added(r1, 10, 1),
        added(r2, 10, 2),
        added(r3, 5, 3),
        {
          type: 'ApprovalRuleUpdated',
          data: {
            companyId,
            ruleId: r1,
            changes: { predicate: { channel: 'email' }, action: 'auto_approve' },
            updatedBy: 'board',
            updatedAt: at(4),
          },
        },
        { type: 'ApprovalRuleDeleted', data: { companyId, ruleId: r3, deletedBy: 'board', deletedAt: at(5) } },
      ]),
    );
    expect(
      (await listApprovalRules(b.db, companyId)).map((r) => [r.id, r.predicate, r.action, r.priority, r.updatedAt.toISOString()]),
    ).toEqual([
      [r1, { channel: 'email' }, 'auto_approve', 10, at(4)],
      [r2, { any: true }, 'queue_for_manual', 10, at(2)],
    ]);
  });
});

describe('credential buckets', () => {
  it('counts the units held per credential and day: a refund gives one back, a reservation twice counts once', async () => {
    const companyId = randomUUID();
    const credentialId = randomUUID();
    const [a1, a2, a3] = [randomUUID(), randomUUID(), randomUUID()];
    const day = '2026-03-01';
    const reserved = (activityId: string, minute: number) =>
      ({ type: 'QuotaReserved', data: { companyId, credentialId, day, activityId, cap: 30, at: at(minute) } }) as const;
    const events = recorded<QuotaBucketEvent>(`quota-${credentialId}-${day}`, [
      reserved(a1, 1),
      reserved(a2, 2),
      reserved(a3, 3),
      { type: 'QuotaRefunded', data: { companyId, credentialId, day, activityId: a2, at: at(4) } },
    ]);
    await given(credentialBucketsProjection, events);
    await given(credentialBucketsProjection, events.slice(0, 1)); // re-delivered
    expect(await listCredentialBuckets(b.db, companyId, day)).toEqual([{ credential: credentialId, day, cap: 30, used: 2 }]);
    expect(await listCredentialBuckets(b.db, companyId, '2026-03-02')).toEqual([]);
  });
});

describe('content pieces', () => {
  it('lists live pieces oldest first, a page at a time, with their changes, by niche', async () => {
    const companyId = randomUUID();
    const [c1, c2, c3] = [randomUUID(), randomUUID(), randomUUID()];
    const fields = {
      title: 'T',
      summary: null,
      sourcePath: 'a.md',
      sourceSha256: 'cd'.repeat(32),
      tags: ['x'],
      channelIntent: null,
      niche: 'dentists',
      frontmatter: null,
    };
    const created = (pieceId: string, minute: number, title: string) =>
      ({
        type: 'ContentPieceCreated',
        data: { pieceId, companyId, fields: { ...fields, title, sourcePath: `${title}.md` }, createdBy: 'board', createdAt: at(minute) },
      }) as const;
    await given(contentPiecesProjection, [
      ...recorded<ContentPieceEvent>(`content-piece-${c1}`, [
        created(c1, 1, 'one'),
        {
          type: 'ContentPieceUpdated',
          data: { pieceId: c1, companyId, changes: { title: 'One', tags: ['x', 'y'] }, updatedBy: 'board', updatedAt: at(5) },
        },
      ]),
      ...recorded<ContentPieceEvent>(`content-piece-${c2}`, [
        created(c2, 2, 'two'),
        { type: 'ContentPieceDeleted', data: { pieceId: c2, companyId, deletedBy: 'board', deletedAt: at(6) } },
      ]),
      ...recorded<ContentPieceEvent>(`content-piece-${c3}`, [created(c3, 3, 'three')]),
    ]);
    const first = await listContentPieces(b.db, companyId, { niche: 'dentists', limit: 1 });
    expect(first.items.map((p) => [p.id, p.title, p.tags, p.updatedAt.toISOString()])).toEqual([[c1, 'One', ['x', 'y'], at(5)]]);
    const second = await listContentPieces(b.db, companyId, { niche: 'dentists', limit: 1, after: decodeCursor(first.nextCursor!) });
    expect(second.items.map((p) => p.id)).toEqual([c3]);
    expect(second.nextCursor).toBeNull();
    expect(await getContentPiece(b.db, companyId, c2)).toBeNull();
    expect((await listContentPieces(b.db, companyId, { niche: 'plumbers', limit: 10 })).items).toEqual([]);
  });
});

describe('activities and their deliveries', () => {
  const request = (companyId: string, activityId: string, minute: number): ActivityRequest & Record<string, unknown> => ({
    activityId,
    companyId,
    outboxId: randomUUID(),
    channel: 'email',
    outboxChannel: 'email',
    to: 'r@r.test',
    payload: { subject: 's', body: 'b' },
    contentPieceId: null,
    niche: null,
    tags: [],
    clientDedupKey: null,
    requestHash: 'ef'.repeat(32),
    requestedBy: 'agent',
    requestedAt: at(minute),
  });

  it('follows each send to its status, in one batch as in several', async () => {
    const companyId = randomUUID();
    const [sent, blocked] = [randomUUID(), randomUUID()];
    const sentEvents = recorded<ActivityEvent>(`activity-${sent}`, [
      { type: 'ActivityRequested', data: request(companyId, sent, 1) },
      { type: 'ActivityApproved', data: { activityId: sent, approvalId: null, ruleId: null, by: 'rules', at: at(1) } },
      {
        type: 'ActivityDispatching',
        data: { activityId: sent, bucket: 'b', credentialId: randomUUID(), day: '2026-03-01', leaseUntil: at(3), at: at(2) },
      },
      { type: 'ActivitySent', data: { activityId: sent, providerMessageId: '<m1@r.test>', at: at(3) } },
    ]);
    await given(activitiesProjection, sentEvents.slice(0, 2));
    await given(activitiesProjection, [
      ...sentEvents.slice(2),
      ...recorded<ActivityEvent>(`activity-${blocked}`, [
        { type: 'ActivityRequested', data: request(companyId, blocked, 4) },
        { type: 'ActivityBlocked', data: { activityId: blocked, status: 'blocked_by_allowlist', reason: 'not_allowlisted', at: at(4) } },
      ]),
    ]);
    expect(await getActivity(b.db, companyId, sent)).toMatchObject({
      id: sent,
      status: 'sent',
      providerMessageId: '<m1@r.test>',
      to: 'r@r.test',
      updatedAt: new Date(at(3)),
    });
    expect(await getActivity(b.db, companyId, blocked)).toMatchObject({ status: 'blocked_by_allowlist', reason: 'not_allowlisted' });
    expect((await listActivities(b.db, companyId, { status: 'sent', limit: 10 })).items.map((a) => a.id)).toEqual([sent]);
  });

  it('keeps what providers reported after a send, the latest state as its delivery status', async () => {
    const activityId = randomUUID();
    await given(
      activityDeliveriesProjection,
      recorded<ActivityEvent>(`activity-${activityId}`, [
        { type: 'ActivityDeliveryUpdated', data: { activityId, state: 'delivered', at: at(5), providerEventId: 'p1' } },
        { type: 'ActivityReplyReceived', data: { activityId, at: at(6), text: 'Thanks', providerEventId: 'p2' } },
        { type: 'ActivityDeliveryUpdated', data: { activityId, state: 'read', at: at(7), providerEventId: 'p3' } },
      ]),
    );
    const d = await deliveryOf(b.db, activityId);
    expect(d.deliveryStatus).toBe('read');
    expect(d.deliveryEvents).toEqual([
      { type: 'delivery', state: 'delivered', at: new Date(at(5)), providerEventId: 'p1' },
      { type: 'reply', at: new Date(at(6)), text: 'Thanks', providerEventId: 'p2' },
      { type: 'delivery', state: 'read', at: new Date(at(7)), providerEventId: 'p3' },
    ]);
  });

  it('learns what else a send is known by: resolved recipients, names the adapter gave, a new provider message id', async () => {
    const companyId = randomUUID();
    const activityId = randomUUID();
    await given(
      activityAliasesProjection,
      recorded<ActivityEvent>(`activity-${activityId}`, [
        { type: 'ActivityRequested', data: { ...request(companyId, activityId, 1), recipientAliases: ['R2@R.test'] } },
        { type: 'ActivitySent', data: { activityId, providerMessageId: 'm1', at: at(2), recipientAliases: ['member-9'] } },
        {
          type: 'ActivityDeliveryUpdated',
          data: { activityId, state: 'booking_rescheduled', at: at(3), providerEventId: 'p1', newProviderMessageId: 'm2' },
        },
      ]),
    );
    // No query function of its own: webhooks join it in src/webhooks/record.ts, so the rows are read directly.
    const { rows } = await b.db.query<{ kind: string; alias: string }>(
      `SELECT kind, alias FROM crm_activity_aliases WHERE activity_id = $1 ORDER BY kind, alias`,
      [activityId],
    );
    expect(rows.map((r) => [r.kind, r.alias])).toEqual([
      ['message', 'm2'],
      ['recipient', 'member-9'],
      ['recipient', 'r2@r.test'],
    ]);
  });
});

describe('enrollments', () => {
  it('a batch holding several events of one enrollment, interleaved with another’s, ends in the state of the last of each', async () => {
    const companyId = randomUUID();
    const sequenceId = randomUUID();
    const [a, b2] = [randomUUID(), randomUUID()];
    const [a1, a2, b1] = [randomUUID(), randomUUID(), randomUUID()];
    const definition = { version: 1, name: 'S', steps: [], sendWindow: null, stopOn: ['reply'] };
    const started = (enrollmentId: string, to: string) =>
      ({
        type: 'EnrollmentStarted',
        data: { enrollmentId, sequenceId, companyId, definition, to, variables: {}, timezone: 'UTC', dueAt: at(0), by: 'board', at: at(0) },
      }) as unknown as EnrollmentEvent;
    const sent = (enrollmentId: string, index: number, activityId: string, nextDueAt: string | null, minute: number) =>
      ({
        type: 'EnrollmentStepSent',
        data: { enrollmentId, index, activityId, status: 'sent', nextDueAt, at: at(minute) },
      }) as const;
    await given(enrollmentsProjection, [
      ...recorded<EnrollmentEvent>(`crm_enrollment-${a}`, [started(a, 'a@x.test')]),
      ...recorded<EnrollmentEvent>(`crm_enrollment-${b2}`, [started(b2, 'b@x.test')]),
      ...recorded<EnrollmentEvent>(`crm_enrollment-${a}`, [sent(a, 0, a1, at(30), 1)]),
      ...recorded<EnrollmentEvent>(`crm_enrollment-${b2}`, [sent(b2, 0, b1, at(31), 2)]),
      // A's second step in the same batch as its first: one statement for both would lose one of them.
      ...recorded<EnrollmentEvent>(`crm_enrollment-${a}`, [
        sent(a, 1, a2, null, 30),
        { type: 'EnrollmentCompleted', data: { enrollmentId: a, at: at(30) } },
      ]),
      ...recorded<EnrollmentEvent>(`crm_enrollment-${b2}`, [
        { type: 'EnrollmentStopped', data: { enrollmentId: b2, reason: 'reply', index: null, activityId: null, at: at(40) } },
      ]),
    ]);
    const { rows } = await b.db.query<{
      id: string;
      status: string;
      current_step: number;
      steps: { activityId: string }[];
      stop_reason: string;
    }>(`SELECT id, status, current_step, steps, stop_reason FROM crm_enrollments WHERE company_id = $1 ORDER BY recipient`, [companyId]);
    expect(rows.map((r) => [r.id, r.status, r.current_step, r.steps.map((s) => s.activityId), r.stop_reason])).toEqual([
      [a, 'completed', 2, [a1, a2], null],
      [b2, 'stopped', 1, [b1], 'reply'],
    ]);
  });
});
