import type { z } from 'zod';
import { BrandVoiceGuideSchema } from '../../domain/brand-voice-guide.js';
import * as activities from '../routes/activities.js';
import * as agentKeys from '../routes/agent-keys.js';
import * as allowlist from '../routes/allowlist.js';
import * as approvalRules from '../routes/approval-rules.js';
import * as approvals from '../routes/approvals.js';
import * as audit from '../routes/audit.js';
import * as boardTokens from '../routes/board-tokens.js';
import * as brandVoice from '../routes/brand-voice.js';
import * as contentPieces from '../routes/content-pieces.js';
import * as outboxes from '../routes/outboxes.js';
import * as postIssueHooks from '../routes/post-issue-hooks.js';
import * as secrets from '../routes/secrets.js';
import * as send from '../routes/send.js';
import * as sequences from '../routes/sequences.js';
import * as suppressions from '../routes/suppressions.js';
import * as r from './replies.js';

/**
 * Who may call a route, as the guards in src/http/auth.ts decide (and test/http/security-matrix.test.ts proves):
 * - public: anyone, no credentials (a bearer token is not even read);
 * - signed: anyone holding the outbox's webhook secret, checked as the provider's signature over the raw body;
 * - unsubscribeToken: anyone holding the sealed token of the link;
 * - instanceAdmin: a board token of an instance admin;
 * - companyMember: a board token with access to `companyId`, or an agent key of that company;
 * - companyBoard: a board token with access to `companyId` (people, not agents);
 * - companyInstanceAdmin: a board token of an instance admin with access to `companyId`;
 * - metrics: a scraper holding `CRM_METRICS_TOKEN`, or an instance admin;
 * - actor: any board user or agent (a valid token of either kind).
 */
export type Guard =
  | 'public'
  | 'signed'
  | 'unsubscribeToken'
  | 'instanceAdmin'
  | 'companyMember'
  | 'companyBoard'
  | 'companyInstanceAdmin'
  | 'metrics'
  | 'actor';

export interface Reply {
  description: string;
  /** A zod schema (output side), or a JSON Schema as is. */
  schema?: z.ZodType | Record<string, unknown>;
  /** application/json unless said. */
  contentType?: string;
}

export interface OperationSpec {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express's form, `:name` for a parameter: the test compares it with the app's routes as they are. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  guard: Guard;
  /** The zod schema the handler parses the JSON body with (input side). */
  body?: z.ZodType;
  /** A body that is not JSON, or that the handler reads without a zod schema. */
  rawBody?: { contentType: string; schema: Record<string, unknown>; description: string };
  /** The zod object the handler parses the query with, or a JSON Schema object whose properties are the parameters. */
  query?: z.ZodType | { properties: Record<string, Record<string, unknown>>; required?: string[] };
  replies: Record<number, Reply>;
  /** A write through replyAfterWrite: `X-CRM-Position` on its reply, 409 on a concurrent change. */
  write?: boolean;
  /** A write whose reply is read back from the read models: a 202 when they lag. */
  readBack?: boolean;
  /** Error statuses besides those the guard, the body, the parameters and a write imply. */
  errors?: number[];
}

const ok = (schema: Reply['schema'], description = 'OK'): Record<number, Reply> => ({ 200: { description, schema } });
const created = (schema: Reply['schema'], description = 'Created'): Record<number, Reply> => ({ 201: { description, schema } });
const noContent: Record<number, Reply> = { 204: { description: 'Done; no body' } };

const company = '/api/companies/:companyId';
const crm = `${company}/crm`;

export const OPERATIONS: OperationSpec[] = [
  // Health
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'health',
    summary: 'Liveness: the process answers',
    guard: 'public',
    replies: ok(r.HealthReply),
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tag: 'health',
    summary: 'Readiness: the database and the event store answer and the read models have caught up',
    guard: 'public',
    replies: { 200: { description: 'Ready', schema: r.ReadyReply }, 503: { description: 'Not ready', schema: r.ReadyReply } },
  },
  // Docs
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    tag: 'docs',
    summary: 'This document (OpenAPI 3.1)',
    guard: 'public',
    replies: ok({ type: 'object' }),
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docsPage',
    tag: 'docs',
    summary: 'The API reference page (Swagger UI, served from this service: nothing is loaded from elsewhere)',
    guard: 'public',
    replies: { 200: { description: 'HTML page', contentType: 'text/html', schema: { type: 'string' } } },
  },
  {
    method: 'get',
    path: '/console',
    operationId: 'consolePage',
    tag: 'console',
    summary: 'The web console (approvals, rules, activities, outboxes, sequences): static, served from this service',
    description: 'Public files; every piece of data it shows comes from this API with the token the person pastes, under the API guards.',
    guard: 'public',
    replies: { 200: { description: 'HTML page', contentType: 'text/html', schema: { type: 'string' } } },
  },
  {
    method: 'get',
    path: '/console/assets/:file',
    operationId: 'consoleAsset',
    tag: 'console',
    summary: "The console's scripts and style sheet",
    guard: 'public',
    replies: {
      200: { description: 'JavaScript module or CSS', contentType: 'text/javascript', schema: { type: 'string' } },
    },
    errors: [404],
  },
  {
    method: 'get',
    path: '/api/me',
    operationId: 'me',
    tag: 'access',
    summary: 'Who the caller is, and the companies it may act for (the console signs in and picks a company with it)',
    description:
      "A board user's companies are its token's; an instance admin is also offered every company with an outbox; an agent, its company.",
    guard: 'actor',
    replies: ok(r.Me),
  },
  {
    method: 'get',
    path: '/docs/assets/:asset',
    operationId: 'docsAsset',
    tag: 'docs',
    summary: "The reference page's scripts and style sheet",
    guard: 'public',
    replies: { 200: { description: 'The file', contentType: 'application/octet-stream', schema: { type: 'string' } } },
    errors: [404],
  },
  // Metrics
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'health',
    summary: 'Prometheus metrics (text exposition format)',
    guard: 'metrics',
    replies: { 200: { description: 'The metrics', contentType: 'text/plain', schema: { type: 'string' } } },
  },
  // Webhooks
  {
    method: 'post',
    path: '/api/webhooks/:channel/:outboxId',
    operationId: 'receiveWebhook',
    tag: 'webhooks',
    summary: "A provider's delivery, reply or bounce notices for an outbox",
    description:
      "No bearer token: each delivery is authenticated by its provider's signature (or shared secret) over the raw body, " +
      "with the outbox's webhook secret. Bad signature: 401; a body that does not parse: 400; nothing is recorded in either case.",
    guard: 'signed',
    rawBody: {
      contentType: 'application/json',
      schema: { type: 'object' },
      description: "The provider's payload, as it sends it (the signature is over these bytes)",
    },
    replies: ok(r.WebhookReceipt),
    write: true,
    errors: [404],
  },
  {
    method: 'get',
    path: '/api/webhooks/:channel/:outboxId',
    operationId: 'webhookHandshake',
    tag: 'webhooks',
    summary: "Meta's subscription handshake: echoes hub.challenge when hub.verify_token matches",
    guard: 'public',
    query: {
      properties: {
        'hub.mode': { type: 'string', const: 'subscribe' },
        'hub.verify_token': { type: 'string' },
        'hub.challenge': { type: 'string', pattern: '^[A-Za-z0-9._-]{1,256}$' },
      },
      required: ['hub.mode', 'hub.verify_token', 'hub.challenge'],
    },
    replies: { 200: { description: 'The challenge, echoed', contentType: 'text/plain', schema: { type: 'string' } } },
    errors: [400, 403, 404],
  },
  // Unsubscribe
  {
    method: 'get',
    path: '/unsubscribe/:token',
    operationId: 'unsubscribePage',
    tag: 'unsubscribe',
    summary: 'The page with the unsubscribe button (changes nothing: link scanners fetch links)',
    guard: 'unsubscribeToken',
    replies: { 200: { description: 'HTML page', contentType: 'text/html', schema: { type: 'string' } } },
  },
  {
    method: 'post',
    path: '/unsubscribe/:token',
    operationId: 'unsubscribe',
    tag: 'unsubscribe',
    summary: 'One-click unsubscribe (RFC 8058): suppresses the recipient the token names',
    guard: 'unsubscribeToken',
    rawBody: {
      contentType: 'application/x-www-form-urlencoded',
      schema: { type: 'object', properties: { 'List-Unsubscribe': { type: 'string', const: 'One-Click' } } },
      description: 'What mail providers post (RFC 8058); the body is not required',
    },
    replies: {
      200: {
        description: 'Unsubscribed: a page for a browser, `{status: "unsubscribed"}` for anything asking for JSON',
        schema: { type: 'object', properties: { status: { type: 'string', const: 'unsubscribed' } }, required: ['status'] },
      },
    },
    errors: [413, 415],
  },
  // Access
  {
    method: 'post',
    path: '/api/admin/board-tokens',
    operationId: 'issueBoardToken',
    tag: 'access',
    summary: 'Issue a board token',
    guard: 'instanceAdmin',
    body: boardTokens.IssueBody,
    replies: created(r.IssuedBoardToken),
    write: true,
  },
  {
    method: 'get',
    path: '/api/admin/board-tokens',
    operationId: 'listBoardTokens',
    tag: 'access',
    summary: 'List board tokens (never a token itself)',
    guard: 'instanceAdmin',
    replies: ok(r.Items(r.BoardToken, 'BoardTokenList')),
  },
  {
    method: 'delete',
    path: '/api/admin/board-tokens/:tokenId',
    operationId: 'revokeBoardToken',
    tag: 'access',
    summary: 'Revoke a board token',
    guard: 'instanceAdmin',
    replies: noContent,
    write: true,
  },
  {
    method: 'post',
    path: `${company}/agent-keys`,
    operationId: 'issueAgentKey',
    tag: 'access',
    summary: "Issue an agent's key for the company",
    guard: 'companyBoard',
    body: agentKeys.IssueBody,
    replies: created(r.IssuedAgentKey),
    write: true,
  },
  {
    method: 'get',
    path: `${company}/agent-keys`,
    operationId: 'listAgentKeys',
    tag: 'access',
    summary: "List the company's agent keys (never a key itself)",
    guard: 'companyBoard',
    replies: ok(r.Items(r.AgentKey, 'AgentKeyList')),
  },
  {
    method: 'delete',
    path: `${company}/agent-keys/:keyId`,
    operationId: 'revokeAgentKey',
    tag: 'access',
    summary: 'Revoke an agent key',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  // Secrets
  {
    method: 'post',
    path: `${crm}/secrets`,
    operationId: 'createSecret',
    tag: 'secrets',
    summary: 'Store a secret (encrypted); its value never comes back',
    guard: 'companyBoard',
    body: secrets.CreateBody,
    replies: created(r.SecretVersion),
    write: true,
  },
  {
    method: 'post',
    path: `${crm}/secrets/:secretId/versions`,
    operationId: 'addSecretVersion',
    tag: 'secrets',
    summary: 'Rotate a secret: a new version',
    guard: 'companyBoard',
    body: secrets.VersionBody,
    replies: created(r.SecretVersion),
    write: true,
  },
  {
    method: 'get',
    path: `${crm}/secrets`,
    operationId: 'listSecrets',
    tag: 'secrets',
    summary: "The company's secrets (metadata only)",
    guard: 'companyBoard',
    replies: ok(r.Items(r.Secret, 'SecretList')),
  },
  {
    method: 'post',
    path: '/api/admin/secrets',
    operationId: 'createInstanceSecret',
    tag: 'secrets',
    summary: 'Store an instance secret (what instance configuration such as post-issue hooks signs with)',
    guard: 'instanceAdmin',
    body: secrets.CreateBody,
    replies: created(r.SecretVersion),
    write: true,
  },
  {
    method: 'post',
    path: '/api/admin/secrets/:secretId/versions',
    operationId: 'addInstanceSecretVersion',
    tag: 'secrets',
    summary: 'Rotate an instance secret',
    guard: 'instanceAdmin',
    body: secrets.VersionBody,
    replies: created(r.SecretVersion),
    write: true,
  },
  {
    method: 'get',
    path: '/api/admin/secrets',
    operationId: 'listInstanceSecrets',
    tag: 'secrets',
    summary: "The instance's secrets (metadata only)",
    guard: 'instanceAdmin',
    replies: ok(r.Items(r.Secret, 'InstanceSecretList')),
  },
  // Content
  {
    method: 'get',
    path: `${crm}/content-pieces`,
    operationId: 'listContentPieces',
    tag: 'content',
    summary: 'Content pieces, oldest first, a page at a time',
    guard: 'companyMember',
    query: contentPieces.ListQuery,
    replies: ok(r.Page(r.ContentPiece, 'ContentPiecePage')),
  },
  {
    method: 'post',
    path: `${crm}/content-pieces`,
    operationId: 'createContentPiece',
    tag: 'content',
    summary: 'Create a content piece',
    guard: 'companyMember',
    body: contentPieces.CreateBody,
    replies: created(r.ContentPiece),
    write: true,
    readBack: true,
  },
  {
    method: 'get',
    path: `${crm}/content-pieces/:pieceId`,
    operationId: 'getContentPiece',
    tag: 'content',
    summary: 'A content piece',
    guard: 'companyMember',
    replies: ok(r.ContentPiece),
  },
  {
    method: 'patch',
    path: `${crm}/content-pieces/:pieceId`,
    operationId: 'updateContentPiece',
    tag: 'content',
    summary: 'Change fields of a content piece',
    guard: 'companyMember',
    body: contentPieces.PatchBody,
    replies: ok(r.ContentPiece, 'The content piece as changed'),
    write: true,
    readBack: true,
  },
  {
    method: 'delete',
    path: `${crm}/content-pieces/:pieceId`,
    operationId: 'deleteContentPiece',
    tag: 'content',
    summary: 'Delete a content piece',
    guard: 'companyMember',
    replies: noContent,
    write: true,
  },
  {
    method: 'get',
    path: `${crm}/brand-voice/guide`,
    operationId: 'getBrandVoiceGuide',
    tag: 'content',
    summary: "The company's brand-voice guide (its current version)",
    guard: 'companyMember',
    replies: ok(r.BrandVoiceGuide),
  },
  {
    method: 'put',
    path: `${crm}/brand-voice/guide`,
    operationId: 'setBrandVoiceGuide',
    tag: 'content',
    summary: 'Replace the brand-voice guide (a new version)',
    guard: 'companyBoard',
    body: BrandVoiceGuideSchema,
    replies: ok(r.BrandVoiceGuide),
  },
  {
    method: 'post',
    path: `${crm}/brand-voice/check`,
    operationId: 'checkBrandVoice',
    tag: 'content',
    summary: 'Check a draft against the guide (cached by content hash and guide version)',
    guard: 'companyMember',
    body: brandVoice.CheckBody,
    replies: ok(r.AnyObject, 'The verdict'),
  },
  {
    method: 'post',
    path: `${crm}/post-issue-hooks/run`,
    operationId: 'runPostIssueHooks',
    tag: 'content',
    summary: 'Run the post-issue hooks that match a finished issue',
    guard: 'companyMember',
    body: postIssueHooks.RunBody,
    replies: ok(r.AnyObject, 'What each matching hook did'),
  },
  {
    method: 'post',
    path: '/api/admin/post-issue-hooks/reload',
    operationId: 'reloadPostIssueHooks',
    tag: 'content',
    summary: 'Reload the post-issue hooks registry file (an invalid one is refused, the previous stays in force)',
    guard: 'instanceAdmin',
    replies: ok(r.AnyObject, 'A summary of the registry now in force'),
    write: true,
    errors: [422],
  },
  // Projections
  {
    method: 'get',
    path: '/api/admin/projections',
    operationId: 'listProjections',
    tag: 'projections',
    summary: "The read models' projections: checkpoint, lag, leader, a rebuild in progress",
    guard: 'instanceAdmin',
    replies: ok(r.Items(r.ProjectionStatus, 'ProjectionStatusList')),
  },
  {
    method: 'post',
    path: '/api/admin/projections/:name/rebuild',
    operationId: 'rebuildProjection',
    tag: 'projections',
    summary: 'Rebuild a projection from the log, aside, then swap it in (the service goes on serving)',
    description:
      'Answers 202 with the rebuild, whose status `Location` serves; 404 for an unknown projection, 409 while it is being rebuilt.',
    guard: 'instanceAdmin',
    replies: { 202: { description: 'Started', schema: r.RebuildJob } },
    errors: [404, 409],
  },
  {
    method: 'get',
    path: '/api/admin/projections/rebuilds/:rebuildId',
    operationId: 'getProjectionRebuild',
    tag: 'projections',
    summary: 'A rebuild started on this instance: its phase, progress and outcome',
    guard: 'instanceAdmin',
    replies: ok(r.RebuildJob),
    errors: [404],
  },
  {
    method: 'get',
    path: '/api/admin/history/:kind/:id',
    operationId: 'auditHistory',
    tag: 'audit',
    summary: "An aggregate's events, oldest first, with their times and actors (any company)",
    description:
      "`kind` is one of activity, bucket, outbox, rule-set, sequence, enrollment. The id is a UUID; a rule set's is its company's; a bucket's is `<companyId>.<credentialId>.<YYYY-MM-DD>`. 400 for an unknown kind or a malformed id, 404 when the aggregate has no event.",
    guard: 'instanceAdmin',
    replies: ok(r.AuditHistory),
    errors: [400, 404],
  },
  {
    method: 'get',
    path: '/api/admin/state/:kind/:id',
    operationId: 'auditState',
    tag: 'audit',
    summary: 'Audit replay: the aggregate as it was at an instant, folded by the decider the service decides with',
    description:
      'Folds the events recorded up to `asOf` (inclusive; now when absent). Before the first event the state is the initial one with `revision` null. Kinds and ids as for the history.',
    guard: 'instanceAdmin',
    query: audit.StateQuery,
    replies: ok(r.AggregateState),
    errors: [400, 404],
  },
  // Outboxes
  {
    method: 'get',
    path: `${crm}/outboxes`,
    operationId: 'listOutboxes',
    tag: 'outboxes',
    summary: "The company's outboxes",
    guard: 'companyMember',
    replies: ok(r.Items(r.Outbox, 'OutboxList')),
  },
  {
    method: 'post',
    path: `${crm}/outboxes`,
    operationId: 'createOutbox',
    tag: 'outboxes',
    summary: 'Create an outbox: a channel, its config and the secret it sends with',
    description: "`config` is checked against the channel's schema (src/channels/schemas.ts); a `baseUrl` on a private address is refused.",
    guard: 'companyBoard',
    body: outboxes.CreateBody,
    replies: created(r.Outbox),
    write: true,
    readBack: true,
  },
  {
    method: 'get',
    path: `${crm}/outboxes/:outboxId`,
    operationId: 'getOutbox',
    tag: 'outboxes',
    summary: 'An outbox',
    guard: 'companyMember',
    replies: ok(r.Outbox),
  },
  {
    method: 'patch',
    path: `${crm}/outboxes/:outboxId`,
    operationId: 'updateOutbox',
    tag: 'outboxes',
    summary: 'Change an outbox',
    guard: 'companyBoard',
    body: outboxes.PatchBody,
    replies: ok(r.Outbox),
    write: true,
    readBack: true,
  },
  {
    method: 'delete',
    path: `${crm}/outboxes/:outboxId`,
    operationId: 'deleteOutbox',
    tag: 'outboxes',
    summary: 'Delete an outbox (soft)',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  // Allowlist and suppressions
  {
    method: 'get',
    path: `${crm}/allowlist`,
    operationId: 'listAllowlist',
    tag: 'recipients',
    summary: 'Who may be contacted: oldest first, a page at a time',
    guard: 'companyMember',
    query: allowlist.ListQuery,
    replies: ok(r.Page(r.AllowlistEntry, 'AllowlistPage')),
  },
  {
    method: 'post',
    path: `${crm}/allowlist`,
    operationId: 'addAllowlistEntry',
    tag: 'recipients',
    summary: 'Allow a recipient (or a pattern of them)',
    guard: 'companyBoard',
    body: allowlist.AddBody,
    replies: created(r.AllowlistEntry),
    write: true,
  },
  {
    method: 'delete',
    path: `${crm}/allowlist/:entryId`,
    operationId: 'removeAllowlistEntry',
    tag: 'recipients',
    summary: 'Remove an allowlist entry',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  {
    method: 'get',
    path: `${crm}/suppressions`,
    operationId: 'listSuppressions',
    tag: 'recipients',
    summary: 'Recipients never to contact again',
    guard: 'companyMember',
    query: suppressions.ListQuery,
    replies: ok(r.Page(r.Suppression, 'SuppressionPage')),
  },
  {
    method: 'post',
    path: `${crm}/suppressions`,
    operationId: 'suppressRecipient',
    tag: 'recipients',
    summary: 'Suppress a recipient (a repeat answers 200 with the entry in force)',
    guard: 'companyBoard',
    body: suppressions.AddBody,
    replies: {
      201: { description: 'Suppressed', schema: r.Suppression },
      200: { description: 'Already suppressed', schema: r.Suppression },
    },
    write: true,
  },
  {
    method: 'delete',
    path: `${crm}/suppressions/:suppressionId`,
    operationId: 'liftSuppression',
    tag: 'recipients',
    summary: 'Lift a suppression',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  // Approval rules and approvals
  {
    method: 'get',
    path: `${crm}/approval-rules`,
    operationId: 'listApprovalRules',
    tag: 'approvals',
    summary: 'Approval rules, by ascending priority',
    guard: 'companyMember',
    replies: ok(r.Items(r.ApprovalRule, 'ApprovalRuleList')),
  },
  {
    method: 'post',
    path: `${crm}/approval-rules`,
    operationId: 'addApprovalRule',
    tag: 'approvals',
    summary: 'Add an approval rule',
    guard: 'companyBoard',
    body: approvalRules.CreateBody,
    replies: created(r.ApprovalRule),
    write: true,
    readBack: true,
  },
  {
    method: 'patch',
    path: `${crm}/approval-rules/:ruleId`,
    operationId: 'updateApprovalRule',
    tag: 'approvals',
    summary: 'Change an approval rule',
    guard: 'companyBoard',
    body: approvalRules.PatchBody,
    replies: ok(r.ApprovalRule),
    write: true,
    readBack: true,
  },
  {
    method: 'delete',
    path: `${crm}/approval-rules/:ruleId`,
    operationId: 'deleteApprovalRule',
    tag: 'approvals',
    summary: 'Delete an approval rule',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  {
    method: 'post',
    path: `${crm}/approval-rules/:ruleId/preview`,
    operationId: 'previewApprovalRule',
    tag: 'approvals',
    summary: 'Would this rule match a send like this one?',
    guard: 'companyMember',
    body: approvalRules.PreviewBody,
    replies: ok(r.RulePreview),
  },
  {
    method: 'get',
    path: `${crm}/approvals`,
    operationId: 'listApprovals',
    tag: 'approvals',
    summary: 'Sends waiting for (or given) a decision',
    guard: 'companyMember',
    query: approvals.ListQuery,
    replies: ok(r.Items(r.Approval, 'ApprovalList')),
  },
  {
    method: 'post',
    path: `${crm}/approvals/bulk-approve`,
    operationId: 'bulkApprove',
    tag: 'approvals',
    summary: 'Approve queued sends (they go out now)',
    guard: 'companyInstanceAdmin',
    body: approvals.ApproveBody,
    replies: ok(r.BulkResults),
    write: true,
  },
  {
    method: 'post',
    path: `${crm}/approvals/bulk-reject`,
    operationId: 'bulkReject',
    tag: 'approvals',
    summary: 'Reject queued sends',
    guard: 'companyBoard',
    body: approvals.RejectBody,
    replies: ok(r.BulkResults),
    write: true,
  },
  // Sending and activities
  {
    method: 'post',
    path: `${crm}/send`,
    operationId: 'send',
    tag: 'sending',
    summary: 'Send: allowlist and suppressions, approval rules, quota, then the channel',
    description:
      'A blocked send is a 200 like a sent one: `status` says what became of it. `clientDedupKey` makes a retry answer the first send.',
    guard: 'companyMember',
    body: send.SendBody,
    replies: ok(r.SendResult),
    write: true,
    errors: [422],
  },
  {
    method: 'get',
    path: `${crm}/activities`,
    operationId: 'listActivities',
    tag: 'sending',
    summary: 'Activities (one per send), newest first, a page at a time',
    guard: 'companyMember',
    query: activities.ListQuery,
    replies: ok(r.Page(r.ActivitySummary, 'ActivityPage')),
  },
  {
    method: 'get',
    path: `${crm}/activities/:activityId`,
    operationId: 'getActivity',
    tag: 'sending',
    summary: 'An activity, with its deliveries and replies',
    guard: 'companyMember',
    replies: ok(r.Activity),
  },
  {
    method: 'get',
    path: `${crm}/activities/:activityId/history`,
    operationId: 'getActivityHistory',
    tag: 'sending',
    summary: "An activity's events (its audit trail)",
    guard: 'companyMember',
    replies: ok(r.History('activityId', 'ActivityHistory')),
  },
  {
    method: 'post',
    path: `${crm}/activities/:activityId/resend`,
    operationId: 'resendActivity',
    tag: 'sending',
    summary: 'Resend a send whose outcome is unknown (a person decides: agents get 403); no body',
    guard: 'companyBoard',
    replies: ok(r.SendResult),
    write: true,
    errors: [422],
  },
  {
    method: 'get',
    path: `${crm}/credential-buckets`,
    operationId: 'listCredentialBuckets',
    tag: 'sending',
    summary: "Quota used and cap per credential, for today (each credential's time zone) or a given day",
    guard: 'companyMember',
    query: activities.BucketsQuery,
    replies: ok(r.Items(r.CredentialBucket, 'CredentialBucketList')),
  },
  // Sequences
  {
    method: 'get',
    path: `${crm}/sequences`,
    operationId: 'listSequences',
    tag: 'sequences',
    summary: 'Sequences, a page at a time',
    guard: 'companyMember',
    query: sequences.ListQuery,
    replies: ok(r.Page(r.Sequence, 'SequencePage')),
  },
  {
    method: 'post',
    path: `${crm}/sequences`,
    operationId: 'createSequence',
    tag: 'sequences',
    summary: 'Create a sequence',
    guard: 'companyBoard',
    body: sequences.CreateBody,
    replies: created(r.Sequence),
    write: true,
    readBack: true,
  },
  {
    method: 'get',
    path: `${crm}/sequences/:sequenceId`,
    operationId: 'getSequence',
    tag: 'sequences',
    summary: 'A sequence',
    guard: 'companyMember',
    replies: ok(r.Sequence),
  },
  {
    method: 'patch',
    path: `${crm}/sequences/:sequenceId`,
    operationId: 'updateSequence',
    tag: 'sequences',
    summary: 'Change a sequence (steps, window or stops make a new version)',
    guard: 'companyBoard',
    body: sequences.PatchBody,
    replies: ok(r.Sequence, 'The sequence as changed'),
    write: true,
    readBack: true,
  },
  {
    method: 'delete',
    path: `${crm}/sequences/:sequenceId`,
    operationId: 'deleteSequence',
    tag: 'sequences',
    summary: 'Delete a sequence (soft; its running enrollments stop)',
    guard: 'companyBoard',
    replies: noContent,
    write: true,
  },
  {
    method: 'post',
    path: `${crm}/sequences/:sequenceId/pause`,
    operationId: 'pauseSequence',
    tag: 'sequences',
    summary: 'Pause a sequence',
    guard: 'companyBoard',
    replies: ok(r.Sequence, 'The sequence'),
    write: true,
    readBack: true,
  },
  {
    method: 'post',
    path: `${crm}/sequences/:sequenceId/resume`,
    operationId: 'resumeSequence',
    tag: 'sequences',
    summary: 'Resume a sequence',
    guard: 'companyBoard',
    replies: ok(r.Sequence, 'The sequence'),
    write: true,
    readBack: true,
  },
  {
    method: 'post',
    path: `${crm}/sequences/:sequenceId/enrollments`,
    operationId: 'enroll',
    tag: 'sequences',
    summary: 'Enroll contacts (1 to 1,000; one enrollment per recipient and sequence)',
    guard: 'companyMember',
    body: sequences.EnrollBody,
    replies: created(r.Enrolled),
    write: true,
  },
  {
    method: 'get',
    path: `${crm}/sequences/:sequenceId/enrollments`,
    operationId: 'listEnrollments',
    tag: 'sequences',
    summary: "A sequence's enrollments, a page at a time",
    guard: 'companyMember',
    query: sequences.EnrollmentsQuery,
    replies: ok(r.Page(r.Enrollment, 'EnrollmentPage')),
  },
  {
    method: 'get',
    path: `${crm}/sequences/:sequenceId/stats`,
    operationId: 'getSequenceStats',
    tag: 'sequences',
    summary: "A sequence's counts, from the read models",
    guard: 'companyMember',
    replies: ok(r.AnyObject),
  },
  {
    method: 'get',
    path: `${crm}/enrollments/:enrollmentId`,
    operationId: 'getEnrollment',
    tag: 'sequences',
    summary: 'An enrollment',
    guard: 'companyMember',
    replies: ok(r.Enrollment),
  },
  {
    method: 'get',
    path: `${crm}/enrollments/:enrollmentId/history`,
    operationId: 'getEnrollmentHistory',
    tag: 'sequences',
    summary: "An enrollment's events (its audit trail)",
    guard: 'companyMember',
    replies: ok(r.History('enrollmentId', 'EnrollmentHistory')),
  },
  {
    method: 'post',
    path: `${crm}/enrollments/:enrollmentId/stop`,
    operationId: 'stopEnrollment',
    tag: 'sequences',
    summary: 'Stop an enrollment',
    guard: 'companyMember',
    replies: ok(r.Enrollment, 'The enrollment'),
    write: true,
    readBack: true,
  },
];
