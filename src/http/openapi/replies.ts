import { z } from 'zod';
import { OUTBOX_CHANNELS, SEND_CHANNELS } from '../../domain/channels.js';
import { LIMIT_PERIODS, LIMIT_UNITS } from '../../domain/quota-limits.js';
import { SUPPRESSION_SOURCES } from '../../domain/suppression.js';

/**
 * The shapes of the JSON replies, as the read models' views build them (src/projections/*). They are described
 * here, not parsed: nothing checks a reply against them at run time, so they say what a client may rely on (the
 * typed client in src/http/client is generated from them) and leave open what a view may add (no `.strict()`).
 */

/** A schema's name under components/schemas. */
export interface SchemaMeta {
  id: string;
}

/** Reply schemas go to components/schemas under their ids. Output side: what the service writes. */
export const replySchemas = z.registry<SchemaMeta>();

// zod writes the keywords of `.meta()` (zod's global registry) into the JSON Schema, and only the ids of ours.
const named = <S extends z.ZodType>(schema: S, id: string, description?: string): S => {
  const s = description ? schema.meta({ description }) : schema;
  replySchemas.add(s, { id });
  return s;
};

const instant = z.string().meta({ format: 'date-time' });
const id = z.string().meta({ format: 'uuid' });
const object = z.record(z.string(), z.unknown());
// Who caused an event, as its metadata records it.
const eventActor = z.object({ type: z.enum(['board', 'agent', 'system']), id: z.string() }).nullable();

export const ErrorReply = named(
  z.object({
    error: z.string(),
    details: z.unknown().optional(),
  }),
  'Error',
  'Every refusal and failure: `error` is a message for people; `details`, when present, says more: for a 400 of ' +
    'validation the list of issues `[{code, path, message}]`, for a 405 `{code: "method_not_allowed", allow}`. ' +
    'Never a stack trace nor an internal message.',
);

export const AcceptedReply = named(
  z.object({ status: z.literal('accepted'), position: z.string(), message: z.string() }),
  'Accepted',
  'The write is recorded (durable) but the read models have not caught up within 5 s: do not retry, read the resource again later.',
);

export const Page = (item: z.ZodType, idName: string) =>
  named(z.object({ items: z.array(item), nextCursor: z.string().nullable() }), idName);
export const Items = (item: z.ZodType, idName: string) => named(z.object({ items: z.array(item) }), idName);

export const HealthReply = named(z.object({ status: z.literal('ok') }), 'Health');
export const ReadyReply = named(
  z.object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.string()),
    projections: z.array(z.object({ name: z.string(), lagEvents: z.number(), lagMs: z.number(), caughtUp: z.boolean() })),
  }),
  'Readiness',
);

const tokenBase = {
  id,
  createdAt: instant,
  createdBy: z.string().nullable(),
  revokedAt: instant.nullable(),
  lastUsedAt: instant.nullable(),
};
export const BoardToken = named(
  z.object({ ...tokenBase, userId: z.string(), instanceAdmin: z.boolean(), companyIds: z.array(id), expiresAt: instant.nullable() }),
  'BoardToken',
);
export const AgentKey = named(z.object({ ...tokenBase, agentId: z.string(), companyId: id }), 'AgentKey');
export const IssuedBoardToken = named(
  z.object({ id, token: z.string(), expiresAt: instant.nullable() }),
  'IssuedBoardToken',
  'The token is shown this once: only its hash is kept.',
);
export const IssuedAgentKey = named(
  z.object({ id, token: z.string() }),
  'IssuedAgentKey',
  'The key is shown this once: only its hash is kept.',
);

export const SecretVersion = named(
  z.object({ id, version: z.number().int(), ref: z.string() }),
  'SecretVersion',
  '`ref` (`secret://<id>:<version>`) is what an outbox names; the value never comes back.',
);
export const Secret = named(
  z.object({
    id,
    name: z.string(),
    latestVersion: z.number().int(),
    ref: z.string(),
    createdAt: instant,
    updatedAt: instant,
    createdBy: z.string().nullable(),
  }),
  'Secret',
);

export const QuotaLimit = named(
  z.object({
    max: z.number().int().min(1),
    per: z.enum(LIMIT_PERIODS),
    unit: z.enum(LIMIT_UNITS),
  }),
  'QuotaLimit',
  '`max` sends (or distinct recipients) per calendar `minute`, `hour`, `day`, ISO `week` in the outbox time zone, or per rolling `24h` / `7d`.',
);

export const Outbox = named(
  z.object({
    id,
    channel: z.enum(OUTBOX_CHANNELS),
    niche: z.string().nullable(),
    secretRef: z.string(),
    config: object,
    dailyCap: z.number().int(),
    timezone: z.string(),
    limits: z.array(QuotaLimit),
    effectiveLimits: z.array(QuotaLimit).meta({ description: "`limits` with the channel's defaults of the kinds they do not state." }),
    createdAt: instant,
    updatedAt: instant,
  }),
  'Outbox',
);

export const AllowlistEntry = named(
  z.object({
    id,
    pattern: z.string(),
    channel: z.enum(SEND_CHANNELS).nullable(),
    note: z.string().nullable(),
    createdAt: instant.optional(),
    createdBy: z.string().nullable().optional(),
  }),
  'AllowlistEntry',
  'The reply to a POST has the entry as stored (`pattern` normalised); a list has `createdAt` and `createdBy` too.',
);

export const Suppression = named(
  z.object({
    id,
    recipient: z.string(),
    channel: z.enum(OUTBOX_CHANNELS).nullable(),
    source: z.enum(SUPPRESSION_SOURCES),
    reason: z.string().nullable(),
    createdAt: instant,
    createdBy: z.string().nullable(),
  }),
  'Suppression',
);

export const ApprovalRule = named(
  z.object({
    id,
    predicate: object,
    action: z.enum(['auto_approve', 'queue_for_manual']),
    priority: z.number().int(),
    createdAt: instant,
    updatedAt: instant,
  }),
  'ApprovalRule',
);
export const RulePreview = named(z.object({ matches: z.boolean(), action: z.enum(['auto_approve', 'queue_for_manual']) }), 'RulePreview');

const ActivityError = named(
  z.object({
    code: z.string(),
    message: z.string(),
    providerReply: z.string().optional(),
    enhancedStatus: z.string().optional(),
    title: z.string().optional(),
    limit: QuotaLimit.optional(),
    retryAt: instant.optional(),
  }),
  'ActivityError',
);

const SEND_STATUSES = [
  'draft_pending_approval',
  'sent',
  'sent_dryrun',
  'blocked_by_allowlist',
  'blocked_by_quota',
  'failed',
  'rejected',
] as const;
export const SendResult = named(
  z.object({
    id,
    status: z.enum(SEND_STATUSES),
    approvalId: id.optional(),
    error: ActivityError.optional(),
    limit: QuotaLimit.optional(),
    retryAt: instant.optional(),
    resendOf: id.optional(),
    resentAs: id.optional(),
  }),
  'SendResult',
  '`id` is the activity. A send queued for a person answers `draft_pending_approval` with its `approvalId`; one the quota refused answers `blocked_by_quota` with the `limit` that refused it and `retryAt`, when that limit takes one more.',
);

const ACTIVITY_STATUSES = ['requested', 'approved', 'dispatching', ...SEND_STATUSES] as const;
const activityFields = {
  id,
  status: z.enum(ACTIVITY_STATUSES),
  channel: z.enum(SEND_CHANNELS),
  outboxId: id,
  to: z.string(),
  approvalId: id.nullable(),
  contentPieceId: id.nullable(),
  clientDedupKey: z.string().nullable(),
  providerMessageId: z.string().nullable(),
  reason: z.string().nullable(),
  error: ActivityError.nullable(),
  resendOf: id.nullable(),
  resentAs: id.nullable(),
  createdAt: instant,
  updatedAt: instant,
};
export const ActivitySummary = named(z.object(activityFields), 'ActivitySummary');
export const Activity = named(
  z.object({
    ...activityFields,
    deliveryStatus: z.string().nullable(),
    deliveryEvents: z.array(
      z.object({
        type: z.enum(['delivery', 'reply']),
        at: instant,
        providerEventId: z.string(),
        state: z.string().nullable().optional(),
        text: z.string().nullable().optional(),
        error: z.unknown().optional(),
        choice: z.unknown().optional(),
      }),
    ),
  }),
  'Activity',
  'An activity with what its provider reported since (deliveries and replies, oldest first).',
);

export const History = (subject: string, idName: string) =>
  named(
    z.object({
      [subject]: id,
      events: z.array(
        z.object({
          revision: z.number().int(),
          type: z.string(),
          data: object,
          actor: eventActor,
          recordedAt: instant,
        }),
      ),
    }),
    idName,
  );

export const BulkResults = named(z.object({ results: z.array(object) }), 'BulkResults', 'One result per approvalId, in the order given.');

export const Approval = named(
  z.object({
    id,
    activityId: id,
    outboxId: id,
    channel: z.string(),
    to: z.string(),
    ruleId: id.nullable(),
    status: z.enum(['pending', 'approved', 'rejected']),
    payload: object
      .nullable()
      .describe('The message as it would go; null for an approval requested before this was recorded (its activity history has it).'),
  }),
  'Approval',
);

export const BrandVoiceGuide = named(
  z.object({ version: z.number().int(), guide: object, updatedAt: instant.nullable() }),
  'BrandVoiceGuideVersion',
);

export const WebhookReceipt = named(z.object({ received: z.number().int(), recorded: z.number().int() }), 'WebhookReceipt');

export const ContentPiece = named(
  z.object({
    id,
    title: z.string(),
    summary: z.string().nullable(),
    sourcePath: z.string(),
    sourceSha256: z.string(),
    tags: z.array(z.string()),
    channelIntent: z.enum(SEND_CHANNELS).nullable(),
    niche: z.string().nullable(),
    frontmatter: object.nullable(),
    createdAt: instant,
    updatedAt: instant,
  }),
  'ContentPiece',
);

export const CredentialBucket = named(
  z.object({
    credential: id,
    day: z.string().meta({ format: 'date' }),
    cap: z.number().int(),
    used: z.number().int(),
    limits: z
      .array(
        QuotaLimit.extend({
          used: z.number().int(),
          windowStart: instant.meta({ description: 'Units from this instant (rolling windows: after it) up to now count.' }),
          retryAt: instant.nullable().meta({ description: 'When a full limit takes one more (null: not full).' }),
        }),
      )
      .optional()
      .meta({ description: "Today's view only: each limit beyond the daily cap that the credential's outboxes share, as used now." }),
  }),
  'CredentialBucket',
  "The sends counted against a credential on one day (in its outboxes' time zone), and the cap they share; today's view lists every credential with a live outbox.",
);

export const Sequence = named(
  z.object({
    id,
    name: z.string(),
    status: z.string(),
    version: z.number().int(),
    steps: z.array(object),
    sendWindow: object.nullable(),
    stopOn: z.array(z.string()),
    createdAt: instant,
    updatedAt: instant,
  }),
  'Sequence',
);

export const Enrollment = named(
  z.object({
    id,
    sequenceId: id,
    version: z.number().int(),
    to: z.string(),
    status: z.enum(['active', 'waiting_approval', 'paused', 'completed', 'stopped']),
    currentStep: z.number().int(),
    nextDueAt: instant.nullable(),
    steps: z.array(object),
    stopReason: z.string().nullable(),
    replied: z.boolean(),
    createdAt: instant,
    updatedAt: instant,
  }),
  'Enrollment',
);

export const Enrolled = named(
  z.object({
    enrollments: z.array(z.object({ id, to: z.string(), status: z.enum(['enrolled', 'already_enrolled']) })),
  }),
  'Enrolled',
  'One result per contact, in the order given; `already_enrolled` names the enrollment made before.',
);

/** A reply this document names but does not detail: an object, see the README for its fields. */
export const AnyObject = object;

const rebuildProgress = z.object({
  phase: z.enum(['building', 'swapping', 'done']),
  eventsApplied: z.number().int(),
  eventsRead: z.number().int(),
  position: z.string(),
});
export const ProjectionStatus = named(
  z.object({
    name: z.string(),
    leader: z.boolean().describe('Whether this instance leads the projection (applies its batches)'),
    checkpoint: z.string().describe('The log position the read model includes'),
    eventsApplied: z.number().int(),
    lagEvents: z.number().int().describe('Events after the checkpoint (counted up to 100,000; 1,000 on EventStoreDB)'),
    lagMs: z.number().int().describe('Age of the oldest event not yet applied'),
    caughtUp: z.boolean(),
    lastError: z.string().nullable(),
    rebuilding: rebuildProgress.nullable(),
  }),
  'ProjectionStatus',
);
export const RebuildJob = named(
  z.object({
    id,
    projection: z.string(),
    status: z.enum(['running', 'done', 'failed']),
    phase: z.enum(['building', 'swapping', 'done']),
    eventsApplied: z.number().int(),
    eventsRead: z.number().int(),
    position: z.string(),
    startedAt: instant,
    finishedAt: instant.nullable(),
    error: z.string().nullable(),
  }),
  'RebuildJob',
);

export const AuditHistory = named(
  z.object({
    kind: z.string(),
    id: z.string(),
    events: z.array(z.object({ revision: z.number().int(), type: z.string(), recordedAt: instant, actor: eventActor, data: z.unknown() })),
  }),
  'AuditHistory',
);
export const AggregateState = named(
  z.object({
    kind: z.string(),
    id: z.string(),
    asOf: instant.nullable(),
    revision: z.number().int().nullable().describe('The last event folded in; null before the first'),
    recordedAt: instant.nullable(),
    eventsFolded: z.number().int(),
    state: z.unknown().describe("The decider's state (Maps as objects, Sets as arrays)"),
  }),
  'AggregateState',
);

export const Me = named(
  z.object({
    kind: z.enum(['board', 'agent']),
    id: z.string().describe('The user id, or the agent id'),
    instanceAdmin: z.boolean(),
    authMode: z.enum(['local_trusted', 'authenticated']),
    companies: z.array(id),
  }),
  'Me',
);
