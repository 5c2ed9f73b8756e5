import { activityDecider, activityStream } from '../domain/activity.js';
import { approvalRulesDecider, approvalRulesStream } from '../domain/approval-rules.js';
import type { Decider, DomainEvent } from '../domain/decider.js';
import { enrollmentDecider, enrollmentStream } from '../domain/enrollment.js';
import { outboxDecider, outboxStream } from '../domain/outbox.js';
import { bucketStream, quotaBucketDecider } from '../domain/quota-bucket.js';
import { sequenceDecider, sequenceStream } from '../domain/sequence.js';

/** The aggregates an operator can audit (`crm history`, `crm state`, GET /api/admin/history|state/{kind}/{id}). */
export const AUDIT_KINDS = ['activity', 'bucket', 'outbox', 'rule-set', 'sequence', 'enrollment'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const BY_UUID = new RegExp(`^${UUID}$`);
const BUCKET = new RegExp(`^(${UUID})\\.(${UUID})\\.(\\d{4}-\\d{2}-\\d{2})$`);

type AnyDecider = Pick<Decider<unknown, unknown, DomainEvent>, 'initialState' | 'evolve' | 'evolveMany'>;

export interface AuditKindSpec {
  /** How the id is written, for the error that refuses a malformed one. */
  idForm: string;
  /** The aggregate's stream, or null for an id not of this kind's form. */
  stream(id: string): string | null;
  decider: AnyDecider;
}

const byUuid = (streamOf: (id: string) => string, decider: AnyDecider, idForm = 'a UUID'): AuditKindSpec => ({
  idForm,
  stream: (id) => (BY_UUID.test(id) ? streamOf(id.toLowerCase()) : null),
  decider,
});

const as = <C, S, E extends DomainEvent>(d: Decider<C, S, E>) => d as unknown as AnyDecider;

export const AUDIT_KIND_SPECS: Record<AuditKind, AuditKindSpec> = {
  activity: byUuid(activityStream, as(activityDecider)),
  outbox: byUuid(outboxStream, as(outboxDecider)),
  sequence: byUuid(sequenceStream, as(sequenceDecider)),
  enrollment: byUuid(enrollmentStream, as(enrollmentDecider)),
  // A company has one rule set: its id is the company's.
  'rule-set': byUuid(approvalRulesStream, as(approvalRulesDecider), "the company's UUID"),
  // A quota bucket is one credential's day, in the time zone of its outboxes: as its stream names it.
  bucket: {
    idForm: '<companyId>.<credentialId>.<YYYY-MM-DD>',
    stream: (id) => {
      const m = BUCKET.exec(id);
      return m ? bucketStream(m[1]!.toLowerCase(), m[2]!.toLowerCase(), m[3]!) : null;
    },
    decider: as(quotaBucketDecider),
  },
};

export const isAuditKind = (kind: string): kind is AuditKind => (AUDIT_KINDS as readonly string[]).includes(kind);
