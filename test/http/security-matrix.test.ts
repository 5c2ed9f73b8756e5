import { createHash, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueAgentKey, issueBoardToken, revokeAccessToken } from '../../src/commands/access-tokens.js';
import { LOCAL_OPERATOR } from '../../src/commands/actor.js';
import { activityStream } from '../../src/domain/activity.js';
import type { Position } from '../../src/eventstore/port.js';
import { POSTGRES_SKIP_REASON, TEST_DATABASE_URL } from '../support/databases.js';
import { type TestApp, startTestApp } from '../support/app.js';
import { listRoutes } from '../support/routes.js';

/**
 * Every route x every kind of caller -> the status it must get. A route served by the app that is missing
 * here fails the suite: each new route joins the table.
 */
const ACTORS = [
  'anonymous',
  'badToken',
  'revokedToken',
  'expiredToken',
  'otherCompanyAgent',
  'nonMemberBoard',
  'memberBoard', // a board user of the company, not an instance admin
  'companyAgent',
  'admin',
] as const;
type ActorName = (typeof ACTORS)[number];

interface Fixtures {
  companyId: string;
  boardTokenId: () => Promise<string>;
  agentKeyId: () => Promise<string>;
  secretId: string;
  instanceSecretId: string;
  pieceId: string;
  freshPieceId: () => Promise<string>;
  outboxId: string;
  freshOutboxId: () => Promise<string>;
  freshAllowlistEntryId: () => Promise<string>;
  freshSuppressionId: () => Promise<string>;
  unsubscribeToken: string;
  ruleId: string;
  freshRuleId: () => Promise<string>;
  freshApprovalId: () => Promise<string>;
  activityId: string;
  /** A send settled as failed / dispatch_interrupted, not yet resent: each successful resend takes one. */
  freshInterruptedActivityId: () => Promise<string>;
  webhookOutboxId: string;
  sequenceId: string;
  freshSequenceId: () => Promise<string>;
  enrollmentId: string;
  rebuildId: string;
}

interface RouteCase {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  url: (f: Fixtures) => Promise<string> | string;
  body?: () => unknown;
  /** Statuses in the order of ACTORS. */
  expect: [number, number, number, number, number, number, number, number, number];
}

//                                    anon bad  rev  exp  oAg  nonM memB cAg  admin
const PUBLIC: RouteCase['expect'] = [200, 200, 200, 200, 200, 200, 200, 200, 200];
// Webhooks are public but signed: a bearer token neither helps nor hurts, only the provider's signature counts.
const SIGNED_ONLY: RouteCase['expect'] = [401, 401, 401, 401, 401, 401, 401, 401, 401];

const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/healthz', url: () => '/healthz', expect: PUBLIC },
  { method: 'GET', path: '/readyz', url: () => '/readyz', expect: PUBLIC },
  // The API's description and its reference page: public, ahead of authentication (test/http/openapi.test.ts).
  { method: 'GET', path: '/openapi.json', url: () => '/openapi.json', expect: PUBLIC },
  { method: 'GET', path: '/docs', url: () => '/docs', expect: PUBLIC },
  { method: 'GET', path: '/console', url: () => '/console', expect: PUBLIC },
  { method: 'GET', path: '/console/assets/:file', url: () => '/console/assets/app.js', expect: PUBLIC },
  { method: 'GET', path: '/api/me', url: () => '/api/me', expect: [401, 401, 401, 401, 200, 200, 200, 200, 200] },
  { method: 'GET', path: '/docs/assets/:asset', url: () => '/docs/assets/swagger-ui.css', expect: PUBLIC },
  // Instance admins, or a scraper's CRM_METRICS_TOKEN (test/http/metrics.test.ts).
  { method: 'GET', path: '/metrics', url: () => '/metrics', expect: [401, 401, 401, 401, 403, 403, 403, 403, 200] },
  {
    method: 'POST',
    path: '/api/webhooks/:channel/:outboxId',
    url: (f) => `/api/webhooks/whatsapp/${f.webhookOutboxId}`,
    body: () => ({ object: 'whatsapp_business_account', entry: [] }),
    expect: SIGNED_ONLY,
  },
  {
    method: 'GET',
    path: '/api/webhooks/:channel/:outboxId',
    url: (f) => `/api/webhooks/whatsapp/${f.webhookOutboxId}?hub.mode=subscribe&hub.verify_token=matrix-verify-token&hub.challenge=42`,
    expect: PUBLIC,
  },
  {
    method: 'POST',
    path: '/api/admin/board-tokens',
    url: () => '/api/admin/board-tokens',
    body: () => ({ userId: `u-${randomUUID()}`, companyIds: [] }),
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/admin/board-tokens',
    url: () => '/api/admin/board-tokens',
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'DELETE',
    path: '/api/admin/board-tokens/:tokenId',
    url: async (f) => `/api/admin/board-tokens/${await f.boardTokenId()}`,
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 204],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/agent-keys',
    url: (f) => `/api/companies/${f.companyId}/agent-keys`,
    body: () => ({ agentId: `a-${randomUUID()}` }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/agent-keys',
    url: (f) => `/api/companies/${f.companyId}/agent-keys`,
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/agent-keys/:keyId',
    url: async (f) => `/api/companies/${f.companyId}/agent-keys/${await f.agentKeyId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/secrets',
    url: (f) => `/api/companies/${f.companyId}/crm/secrets`,
    body: () => ({ name: `smtp-${randomUUID()}`, value: 'smtp://u:p@127.0.0.1:2525' }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/secrets',
    url: (f) => `/api/companies/${f.companyId}/crm/secrets`,
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/secrets/:secretId/versions',
    url: (f) => `/api/companies/${f.companyId}/crm/secrets/${f.secretId}/versions`,
    body: () => ({ value: 'rotated' }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'POST',
    path: '/api/admin/secrets',
    url: () => '/api/admin/secrets',
    body: () => ({ name: `hooks-key-${randomUUID()}`, value: 'instance-value' }),
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 201],
  },
  { method: 'GET', path: '/api/admin/secrets', url: () => '/api/admin/secrets', expect: [401, 401, 401, 401, 403, 403, 403, 403, 200] },
  {
    method: 'POST',
    path: '/api/admin/secrets/:secretId/versions',
    url: (f) => `/api/admin/secrets/${f.instanceSecretId}/versions`,
    body: () => ({ value: 'rotated' }),
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/content-pieces',
    url: (f) => `/api/companies/${f.companyId}/crm/content-pieces?niche=renovation`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/content-pieces',
    url: (f) => `/api/companies/${f.companyId}/crm/content-pieces`,
    body: () => pieceBody(),
    expect: [401, 401, 401, 401, 403, 403, 201, 201, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/content-pieces/:pieceId',
    url: (f) => `/api/companies/${f.companyId}/crm/content-pieces/${f.pieceId}`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'PATCH',
    path: '/api/companies/:companyId/crm/content-pieces/:pieceId',
    url: async (f) => `/api/companies/${f.companyId}/crm/content-pieces/${await f.freshPieceId()}`,
    body: () => ({ title: 'Renamed' }),
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/content-pieces/:pieceId',
    url: async (f) => `/api/companies/${f.companyId}/crm/content-pieces/${await f.freshPieceId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 204, 204],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/brand-voice/guide',
    url: (f) => `/api/companies/${f.companyId}/crm/brand-voice/guide`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'PUT',
    path: '/api/companies/:companyId/crm/brand-voice/guide',
    url: (f) => `/api/companies/${f.companyId}/crm/brand-voice/guide`,
    body: () => ({ bannedPhrases: [`phrase ${randomUUID()}`] }),
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/brand-voice/check',
    url: (f) => `/api/companies/${f.companyId}/crm/brand-voice/check`,
    body: () => {
      const draft = `Hello ${randomUUID()}`;
      return { draft, contentSha256: createHash('sha256').update(draft).digest('hex') };
    },
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/admin/post-issue-hooks/reload',
    url: () => '/api/admin/post-issue-hooks/reload',
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'GET',
    path: '/api/admin/projections',
    url: () => '/api/admin/projections',
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/admin/projections/:name/rebuild',
    url: () => '/api/admin/projections/suppressions/rebuild',
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 202],
  },
  {
    method: 'GET',
    path: '/api/admin/projections/rebuilds/:rebuildId',
    url: (f) => `/api/admin/projections/rebuilds/${f.rebuildId}`,
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'GET',
    path: '/api/admin/history/:kind/:id',
    url: (f) => `/api/admin/history/activity/${f.activityId}`,
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'GET',
    path: '/api/admin/state/:kind/:id',
    url: (f) => `/api/admin/state/activity/${f.activityId}?asOf=${encodeURIComponent(new Date().toISOString())}`,
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/post-issue-hooks/run',
    url: (f) => `/api/companies/${f.companyId}/crm/post-issue-hooks/run`,
    body: () => ({ issueId: 'ISS-1', status: 'done', labels: [] }),
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/outboxes',
    url: (f) => `/api/companies/${f.companyId}/crm/outboxes`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/outboxes',
    url: (f) => `/api/companies/${f.companyId}/crm/outboxes`,
    body: () => outboxBody(matrixSecretRef),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/outboxes/:outboxId',
    url: (f) => `/api/companies/${f.companyId}/crm/outboxes/${f.outboxId}`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'PATCH',
    path: '/api/companies/:companyId/crm/outboxes/:outboxId',
    url: async (f) => `/api/companies/${f.companyId}/crm/outboxes/${await f.freshOutboxId()}`,
    body: () => ({ dailyCap: 7 }),
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/outboxes/:outboxId',
    url: async (f) => `/api/companies/${f.companyId}/crm/outboxes/${await f.freshOutboxId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/allowlist',
    url: (f) => `/api/companies/${f.companyId}/crm/allowlist`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/allowlist',
    url: (f) => `/api/companies/${f.companyId}/crm/allowlist`,
    body: () => ({ pattern: `${randomUUID()}@example.org` }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/allowlist/:entryId',
    url: async (f) => `/api/companies/${f.companyId}/crm/allowlist/${await f.freshAllowlistEntryId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/suppressions',
    url: (f) => `/api/companies/${f.companyId}/crm/suppressions`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/suppressions',
    url: (f) => `/api/companies/${f.companyId}/crm/suppressions`,
    body: () => ({ recipient: `${randomUUID()}@example.org` }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/suppressions/:suppressionId',
    url: async (f) => `/api/companies/${f.companyId}/crm/suppressions/${await f.freshSuppressionId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  // Public: the sealed token is the authority, whoever calls and whatever bearer header comes along.
  { method: 'GET', path: '/unsubscribe/:token', url: (f) => `/unsubscribe/${f.unsubscribeToken}`, expect: PUBLIC },
  { method: 'POST', path: '/unsubscribe/:token', url: (f) => `/unsubscribe/${f.unsubscribeToken}`, body: () => ({}), expect: PUBLIC },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/approval-rules',
    url: (f) => `/api/companies/${f.companyId}/crm/approval-rules`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/approval-rules',
    url: (f) => `/api/companies/${f.companyId}/crm/approval-rules`,
    body: () => ({ predicate: { niche: 'zz-matrix' }, action: 'queue_for_manual', priority: 500 }),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'PATCH',
    path: '/api/companies/:companyId/crm/approval-rules/:ruleId',
    url: async (f) => `/api/companies/${f.companyId}/crm/approval-rules/${await f.freshRuleId()}`,
    body: () => ({ priority: 600 }),
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/approval-rules/:ruleId',
    url: async (f) => `/api/companies/${f.companyId}/crm/approval-rules/${await f.freshRuleId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/approval-rules/:ruleId/preview',
    url: (f) => `/api/companies/${f.companyId}/crm/approval-rules/${f.ruleId}/preview`,
    body: () => ({ channel: 'email', niche: 'zz-matrix', tags: [] }),
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/sequences',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/sequences',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences`,
    body: () => sequenceBody(),
    expect: [401, 401, 401, 401, 403, 403, 201, 403, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'PATCH',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}`,
    body: () => ({ name: `matrix ${randomUUID()}` }),
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'DELETE',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId',
    url: async (f) => `/api/companies/${f.companyId}/crm/sequences/${await f.freshSequenceId()}`,
    expect: [401, 401, 401, 401, 403, 403, 204, 403, 204],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId/pause',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}/pause`,
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId/resume',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}/resume`,
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId/enrollments',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}/enrollments`,
    body: () => ({ contacts: [{ to: `${randomUUID()}@example.org` }] }),
    expect: [401, 401, 401, 401, 403, 403, 201, 201, 201],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId/enrollments',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}/enrollments`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/sequences/:sequenceId/stats',
    url: (f) => `/api/companies/${f.companyId}/crm/sequences/${f.sequenceId}/stats`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/enrollments/:enrollmentId',
    url: (f) => `/api/companies/${f.companyId}/crm/enrollments/${f.enrollmentId}`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/enrollments/:enrollmentId/history',
    url: (f) => `/api/companies/${f.companyId}/crm/enrollments/${f.enrollmentId}/history`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/enrollments/:enrollmentId/stop',
    url: (f) => `/api/companies/${f.companyId}/crm/enrollments/${f.enrollmentId}/stop`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/send',
    url: (f) => `/api/companies/${f.companyId}/crm/send`,
    body: () => ({ channel: 'dry-run', outboxId: matrixOutboxId, to: 'someone@example.org', payload: { subject: 'Hi', text: 'x' } }),
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/approvals',
    url: (f) => `/api/companies/${f.companyId}/crm/approvals?status=pending`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/approvals/bulk-approve',
    url: (f) => `/api/companies/${f.companyId}/crm/approvals/bulk-approve`,
    body: () => ({ approvalIds: [matrixApprovalIds.shift()] }),
    expect: [401, 401, 401, 401, 403, 403, 403, 403, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/approvals/bulk-reject',
    url: (f) => `/api/companies/${f.companyId}/crm/approvals/bulk-reject`,
    body: () => ({ approvalIds: [matrixApprovalIds.shift()] }),
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/activities',
    url: (f) => `/api/companies/${f.companyId}/crm/activities?limit=5`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/activities/:activityId',
    url: (f) => `/api/companies/${f.companyId}/crm/activities/${f.activityId}`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/activities/:activityId/history',
    url: (f) => `/api/companies/${f.companyId}/crm/activities/${f.activityId}/history`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
  {
    method: 'POST',
    path: '/api/companies/:companyId/crm/activities/:activityId/resend',
    url: async (f) => `/api/companies/${f.companyId}/crm/activities/${await f.freshInterruptedActivityId()}/resend`,
    expect: [401, 401, 401, 401, 403, 403, 200, 403, 200],
  },
  {
    method: 'GET',
    path: '/api/companies/:companyId/crm/credential-buckets',
    url: (f) => `/api/companies/${f.companyId}/crm/credential-buckets?day=2026-11-30`,
    expect: [401, 401, 401, 401, 403, 403, 200, 200, 200],
  },
];

// Sent as UTF-8: EF BB BF.
const BOM = '\uFEFF';

// Fixtures the table's bodies refer to, set up before the rows run.
let matrixSecretRef = '';
let matrixOutboxId = '';
const matrixApprovalIds: string[] = [];

/** A one-step dry-run sequence through the matrix's outbox: it sends nothing anywhere. */
const sequenceBody = () => ({
  name: `matrix ${randomUUID()}`,
  steps: [{ outboxId: matrixOutboxId, channel: 'dry-run', payload: { subject: 'Hi', text: 'x' }, waitBefore: 'P1D' }],
});

function outboxBody(secretRef: string) {
  return { channel: 'email', secretRef, config: { fromAddress: 'ops@example.com' }, dailyCap: 10 };
}

export function pieceBody() {
  return {
    title: 'First touch',
    sourcePath: `knowledge/${randomUUID()}.md`,
    sourceSha256: 'a'.repeat(64),
    tags: ['nurture'],
    niche: 'renovation',
  };
}

const HOOKS_EXAMPLE = fileURLToPath(new URL('../../config/post-issue-hooks.yaml', import.meta.url));

function matrixSuite(backend: 'pglite' | 'postgres') {
  describe(`security matrix on ${backend}`, () => {
    let t: TestApp;
    let clock = Date.now();
    const tokens = {} as Record<ActorName, string | null>;
    let fixtures: Fixtures;

    beforeAll(async () => {
      t = await startTestApp(backend, {
        config: { authMode: 'authenticated', postIssueHooksPath: HOOKS_EXAMPLE },
        now: () => new Date(clock),
      });
      const { rt } = t;
      const companyId = randomUUID();
      const otherCompanyId = randomUUID();
      let last: Position | null = null;
      const board = async (userId: string, instanceAdmin: boolean, companyIds: string[], ttlDays = 0) => {
        const r = await issueBoardToken(rt.store, { userId, instanceAdmin, companyIds, ttlDays }, LOCAL_OPERATOR, rt.now());
        last = r.position;
        return r;
      };
      const agent = async (companyIdOfAgent: string) => {
        const r = await issueAgentKey(
          rt.store,
          { agentId: `agent-${randomUUID()}`, companyId: companyIdOfAgent },
          LOCAL_OPERATOR,
          rt.now(),
        );
        last = r.position;
        return r;
      };
      tokens.anonymous = null;
      tokens.badToken = `pcp_board_${'0'.repeat(48)}`;
      const revoked = await board('revoked', true, [companyId]);
      await revokeAccessToken(rt.store, { tokenId: revoked.id, kind: 'board' }, LOCAL_OPERATOR, rt.now());
      tokens.revokedToken = revoked.token;
      clock -= 2 * 86_400_000;
      tokens.expiredToken = (await board('expired', true, [companyId], 1)).token;
      clock += 2 * 86_400_000;
      tokens.otherCompanyAgent = (await agent(otherCompanyId)).token;
      tokens.nonMemberBoard = (await board('outsider', false, [otherCompanyId])).token;
      tokens.memberBoard = (await board('member', false, [companyId])).token;
      tokens.companyAgent = (await agent(companyId)).token;
      tokens.admin = (await board('admin', true, [])).token;
      // waitFor answers false after its timeout: on a loaded machine the default 5 s was seen too short.
      expect(await rt.engine.waitFor(last!, { timeoutMs: 30_000 })).toBe(true);
      const secret = await request(t.app)
        .post(`/api/companies/${companyId}/crm/secrets`)
        .set('authorization', `Bearer ${tokens.admin}`)
        .send({ name: 'fixture', value: 'v1' });
      expect(secret.status).toBe(201);
      const instanceSecret = await request(t.app)
        .post('/api/admin/secrets')
        .set('authorization', `Bearer ${tokens.admin}`)
        .send({ name: 'fixture', value: 'v1' });
      expect(instanceSecret.status).toBe(201);
      const piece = async () => {
        const res = await request(t.app)
          .post(`/api/companies/${companyId}/crm/content-pieces`)
          .set('authorization', `Bearer ${tokens.admin}`)
          .send(pieceBody());
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      const admin = { authorization: `Bearer ${tokens.admin}` };
      matrixSecretRef = secret.body.ref;
      const outbox = async () => {
        const res = await request(t.app).post(`/api/companies/${companyId}/crm/outboxes`).set(admin).send(outboxBody(matrixSecretRef));
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      matrixOutboxId = await outbox();
      const webhookOutbox = await request(t.app)
        .post(`/api/companies/${companyId}/crm/outboxes`)
        .set(admin)
        .send({
          channel: 'whatsapp',
          secretRef: matrixSecretRef,
          config: { phoneNumberId: '15550001', webhook: { secretRef: matrixSecretRef, verifyToken: 'matrix-verify-token' } },
        });
      expect(webhookOutbox.status).toBe(201);
      const entry = async () => {
        const res = await request(t.app)
          .post(`/api/companies/${companyId}/crm/allowlist`)
          .set(admin)
          .send({ pattern: `${randomUUID()}@example.org` });
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      const suppression = async () => {
        const res = await request(t.app)
          .post(`/api/companies/${companyId}/crm/suppressions`)
          .set(admin)
          .send({ recipient: `${randomUUID()}@example.org` });
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      const rule = async () => {
        const res = await request(t.app)
          .post(`/api/companies/${companyId}/crm/approval-rules`)
          .set(admin)
          .send({ predicate: { niche: 'zz-matrix' }, action: 'queue_for_manual' });
        expect(res.status).toBe(201);
        return res.body.id as string;
      };
      expect(
        (await request(t.app).post(`/api/companies/${companyId}/crm/allowlist`).set(admin).send({ pattern: '*@example.org' })).status,
      ).toBe(201);
      const approval = async () => {
        const res = await request(t.app)
          .post(`/api/companies/${companyId}/crm/send`)
          .set(admin)
          .send({ channel: 'email', outboxId: matrixOutboxId, to: 'pending@example.org', payload: { subject: 'Hi', text: 'x' } });
        expect(res.body.status).toBe('draft_pending_approval');
        return res.body as { id: string; approvalId: string };
      };
      // Every call of bulk-approve/reject (by any actor, and each one's BOM case) takes one pending approval of its own.
      const firstApproval = await approval();
      for (let i = 0; i < 2 * (ACTORS.length + 1); i++) matrixApprovalIds.push((await approval()).approvalId);
      const sequence = async () => {
        const res = await request(t.app).post(`/api/companies/${companyId}/crm/sequences`).set(admin).send(sequenceBody());
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body.id as string;
      };
      const sequenceId = await sequence();
      const enrolled = await request(t.app)
        .post(`/api/companies/${companyId}/crm/sequences/${sequenceId}/enrollments`)
        .set(admin)
        .send({ contacts: [{ to: 'enrolled@example.org' }] });
      expect(enrolled.status).toBe(201);
      fixtures = {
        companyId,
        sequenceId,
        freshSequenceId: sequence,
        enrollmentId: enrolled.body.enrollments[0].id,
        outboxId: matrixOutboxId,
        freshOutboxId: outbox,
        freshAllowlistEntryId: entry,
        freshSuppressionId: suppression,
        unsubscribeToken: rt.unsubscribeTokens.issue({ companyId, recipient: 'unsubscribed@example.org', channel: 'email' }),
        ruleId: await rule(),
        freshRuleId: rule,
        freshApprovalId: async () => (await approval()).approvalId,
        activityId: firstApproval.id,
        // Written as the reconciler leaves a dispatch cut short by a crash; the resend then waits for approval
        // (no rule matches), which needs no working SMTP credential.
        freshInterruptedActivityId: async () => {
          const activityId = randomUUID();
          const at = rt.now().toISOString();
          await rt.store.append(
            activityStream(activityId),
            [
              {
                type: 'ActivityRequested',
                data: {
                  activityId,
                  companyId,
                  outboxId: matrixOutboxId,
                  channel: 'email',
                  outboxChannel: 'email',
                  to: 'resend@example.org',
                  payload: { subject: 'Hi', text: 'x' },
                  contentPieceId: null,
                  niche: null,
                  tags: [],
                  clientDedupKey: null,
                  requestHash: 'h',
                  requestedBy: 'test',
                  requestedAt: at,
                },
              },
              { type: 'ActivityApproved', data: { activityId, approvalId: null, ruleId: null, by: 'rule', at } },
              {
                type: 'ActivityFailed',
                data: { activityId, error: { code: 'dispatch_interrupted', message: 'interrupted' }, quotaRefunded: false, at },
              },
            ],
            'no_stream',
          );
          return activityId;
        },
        webhookOutboxId: webhookOutbox.body.id,
        secretId: secret.body.id,
        instanceSecretId: instanceSecret.body.id,
        pieceId: await piece(),
        freshPieceId: piece,
        boardTokenId: async () => {
          const r = await board(`victim-${randomUUID()}`, false, []);
          await rt.engine.waitFor(r.position!);
          return r.id;
        },
        agentKeyId: async () => {
          const r = await agent(companyId);
          await rt.engine.waitFor(r.position!);
          return r.id;
        },
        rebuildId: rt.rebuilds.start('allowlist', (onProgress) => rt.engine.rebuild('allowlist', onProgress)).id,
      };
    }, 60_000);
    afterAll(() => t?.close());

    it('lists every route the app serves', () => {
      const served = listRoutes(t.app)
        .map((r) => `${r.method} ${r.path}`)
        .sort();
      const tabled = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
      expect(served).toEqual(tabled);
    });

    it('a method a known path does not serve is a 405 with Allow, after authentication; an unknown path is a 404', async () => {
      const admin = { authorization: `Bearer ${tokens.admin}` };
      const cases: [string, string, string][] = [
        ['put', `/api/companies/${fixtures.companyId}/crm/outboxes`, 'GET, HEAD, POST'],
        ['delete', `/api/companies/${fixtures.companyId}/crm/secrets`, 'GET, HEAD, POST'],
        ['put', `/api/companies/${fixtures.companyId}/crm/approval-rules/${fixtures.ruleId}`, 'DELETE, PATCH'],
        ['get', `/api/companies/${fixtures.companyId}/crm/send`, 'POST'],
      ];
      for (const [method, url, allow] of cases) {
        const res = await request(t.app)[method as 'get'](url).set(admin);
        expect(res.status, `${method} ${url}`).toBe(405);
        expect(res.headers.allow, `${method} ${url}`).toBe(allow);
        expect(res.body).toMatchObject({ error: expect.any(String), details: { code: 'method_not_allowed' } });
        // Nobody learns which methods a path has before the authentication every /api route needs.
        expect((await request(t.app)[method as 'get'](url)).status).toBe(401);
      }
      expect((await request(t.app).put(`/api/companies/${fixtures.companyId}/crm/nothing-here`).set(admin)).status).toBe(404);
    });

    for (const route of ROUTES) {
      it(`${route.method} ${route.path}`, async () => {
        const got: Record<string, number> = {};
        const want: Record<string, number> = {};
        for (const [i, actor] of ACTORS.entries()) {
          let req = request(t.app)[route.method.toLowerCase() as 'get'](await route.url(fixtures));
          const token = tokens[actor];
          if (token) req = req.set('authorization', `Bearer ${token}`);
          const res = route.body ? await req.send(route.body() as object) : await req;
          got[actor] = res.status;
          want[actor] = route.expect[i]!;
          if (res.status >= 400) expect(res.body, `${actor}: JSON error shape`).toHaveProperty('error');
          if (res.status === 401) expect(res.body).toEqual({ error: 'Unauthorized' });
        }
        expect(got).toEqual(want);
      });
    }

    // Exempt: webhooks check the provider's signature over the raw bytes first (an unsigned empty body is a 401),
    // and RFC 8058's one-click unsubscribe is a form post whose body is never read: the token is the authority.
    const notJson = (r: RouteCase) => r.path.startsWith('/api/webhooks/') || (r.method === 'POST' && r.path === '/unsubscribe/:token');
    const JSON_BODY_ROUTES = ROUTES.filter((r) => r.body && !notJson(r));
    const ADMIN = ACTORS.indexOf('admin');
    // Its length is sent: a request without a Content-Length (or chunks) has no body at all, which is another case.
    const sendText = async (route: RouteCase, text: string) =>
      request(t.app)
        [route.method.toLowerCase() as 'post'](await route.url(fixtures))
        .set('authorization', `Bearer ${tokens.admin}`)
        .set('content-type', 'application/json')
        .set('content-length', String(Buffer.byteLength(text)))
        .send(text);

    // A recipient in another spelling than its channel's one bare form: refused (400) for whoever may send or
    // write the list, and still 401/403 for the others (authorisation comes first).
    const RECIPIENT_SPELLINGS = [
      'Someone <someone@example.org>',
      '(c)someone@example.org',
      '"someone"@example.org',
      'g:someone@example.org;',
      'x<someone@example.org',
    ];
    const refusedFor = (row: RouteCase['expect']) => row.map((s) => (s < 300 ? 400 : s));
    const RECIPIENT_CASES = [
      {
        what: 'send',
        route: '/api/companies/:companyId/crm/send',
        body: (to: string) => ({ channel: 'email', outboxId: matrixOutboxId, to, payload: { subject: 'Hi', text: 'x' } }),
      },
      {
        what: 'dry run',
        route: '/api/companies/:companyId/crm/send',
        body: (to: string) => ({ channel: 'dry-run', outboxId: matrixOutboxId, to, payload: { subject: 'Hi', text: 'x' } }),
      },
      { what: 'allowlist entry', route: '/api/companies/:companyId/crm/allowlist', body: (to: string) => ({ pattern: to }) },
      {
        what: 'suppression',
        route: '/api/companies/:companyId/crm/suppressions',
        body: (to: string) => ({ recipient: to, channel: 'email' }),
      },
    ];
    for (const c of RECIPIENT_CASES) {
      it(`${c.what}: a recipient that is not one bare address is a 400 for every actor allowed to make it`, async () => {
        const row = ROUTES.find((r) => r.method === 'POST' && r.path === c.route)!;
        const want = Object.fromEntries(ACTORS.map((a, i) => [a, refusedFor(row.expect)[i]]));
        for (const to of RECIPIENT_SPELLINGS) {
          const got: Record<string, number> = {};
          for (const actor of ACTORS) {
            let req = request(t.app).post(await row.url(fixtures));
            const token = tokens[actor];
            if (token) req = req.set('authorization', `Bearer ${token}`);
            const res = await req.send(c.body(to));
            got[actor] = res.status;
            if (res.status >= 400) expect(res.body, `${actor}: JSON error shape`).toHaveProperty('error');
          }
          expect({ to, got }).toEqual({ to, got: want });
        }
      });
    }

    it('the routes exempt from the empty-body cases answer as they say', async () => {
      const exempt = ROUTES.filter((r) => r.body && notJson(r));
      expect(exempt.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
        'POST /api/webhooks/:channel/:outboxId',
        'POST /unsubscribe/:token',
      ]);
      for (const route of exempt) {
        const res = await sendText(route, '');
        expect(res.status, `${route.method} ${route.path}`).toBe(route.path === '/unsubscribe/:token' ? 200 : 401);
      }
    });

    for (const route of JSON_BODY_ROUTES) {
      it(`${route.method} ${route.path}: an empty body or a BOM alone is a 400, a BOM before the body is the body`, async () => {
        expect(route.expect[ADMIN], 'the admin must otherwise succeed').toBeLessThan(300);
        for (const [sent, text] of [
          ['nothing', ''],
          ['a BOM alone', BOM],
        ] as const) {
          const res = await sendText(route, text);
          expect({ sent, status: res.status, body: res.body }).toEqual({
            sent,
            status: 400,
            body: { error: 'Expected a JSON object body (Content-Type: application/json)' },
          });
        }
        const res = await sendText(route, BOM + JSON.stringify(route.body!()));
        expect(res.status, JSON.stringify(res.body)).toBe(route.expect[ADMIN]);
      });
    }

    // Egress: a provider base URL on the operator's own network is refused to everyone who may write outboxes
    // (on create and on change), while the others still hear their 401/403 first.
    it('egress: an outbox baseUrl on loopback, a private or a link-local address is a 400 egress_refused for every actor who may write outboxes; nothing is written', async () => {
      const create = ROUTES.find((r) => r.method === 'POST' && r.path === '/api/companies/:companyId/crm/outboxes')!;
      const change = ROUTES.find((r) => r.method === 'PATCH' && r.path === '/api/companies/:companyId/crm/outboxes/:outboxId')!;
      const admin = { authorization: `Bearer ${tokens.admin}` };
      const outboxes = async () =>
        (await request(t.app).get(`/api/companies/${fixtures.companyId}/crm/outboxes`).set(admin)).body.items as unknown[];
      const before = await outboxes();
      const refusal = { code: 'egress_refused', path: ['config', 'baseUrl'], message: expect.stringContaining('CRM_EGRESS_ALLOW') };
      for (const baseUrl of [
        'http://127.0.0.1:9901/internal/admin',
        'https://localhost/',
        'https://10.0.0.1/',
        'https://169.254.169.254/',
        'https://[::ffff:127.0.0.1]/',
      ]) {
        const config = { phoneNumberId: '15550001', baseUrl };
        for (const [i, actor] of ACTORS.entries()) {
          const auth = tokens[actor] ? { authorization: `Bearer ${tokens[actor]}` } : {};
          const created = await request(t.app)
            .post(`/api/companies/${fixtures.companyId}/crm/outboxes`)
            .set(auth)
            .send({ channel: 'whatsapp', secretRef: matrixSecretRef, config });
          const changed = await request(t.app)
            .patch(`/api/companies/${fixtures.companyId}/crm/outboxes/${fixtures.webhookOutboxId}`)
            .set(auth)
            .send({ config });
          expect({ actor, baseUrl, created: created.status, changed: changed.status }).toEqual({
            actor,
            baseUrl,
            created: create.expect[i] === 201 ? 400 : create.expect[i],
            changed: change.expect[i] === 200 ? 400 : change.expect[i],
          });
          if (create.expect[i] === 201)
            expect(created.body).toEqual({ error: expect.stringContaining('baseUrl is refused'), details: [refusal] });
          if (change.expect[i] === 200)
            expect(changed.body).toEqual({ error: expect.stringContaining('baseUrl is refused'), details: [refusal] });
        }
      }
      expect(await outboxes()).toEqual(before);
    });
  });
}

matrixSuite('pglite');
describe.skipIf(!TEST_DATABASE_URL)(`postgres${POSTGRES_SKIP_REASON}`, () => matrixSuite('postgres'));
