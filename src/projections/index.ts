import { accessTokensProjection } from './access-tokens.js';
import { activitiesProjection } from './activities.js';
import { activityAliasesProjection } from './activity-aliases.js';
import { activityDeliveriesProjection } from './activity-deliveries.js';
import { allowlistProjection } from './allowlist.js';
import { approvalRulesProjection } from './approval-rules.js';
import { approvalsProjection } from './approvals.js';
import { brandVoiceCacheProjection } from './brand-voice-cache.js';
import { contactSignalsProjection } from './contact-signals.js';
import { contentPiecesProjection } from './content-pieces.js';
import { credentialBucketsProjection } from './credential-buckets.js';
import { outboxesProjection } from './outboxes.js';
import type { Projection } from './projection.js';
import { enrollmentsProjection } from './enrollments.js';
import { secretsProjection } from './secrets.js';
import { sequencesProjection } from './sequences.js';
import { suppressionsProjection } from './suppressions.js';

/** Every read model of the service. Each feature adds its projection here. */
export function allProjections(): Projection[] {
  return [
    accessTokensProjection,
    secretsProjection,
    contentPiecesProjection,
    brandVoiceCacheProjection,
    outboxesProjection,
    allowlistProjection,
    approvalRulesProjection,
    activitiesProjection,
    approvalsProjection,
    credentialBucketsProjection,
    activityDeliveriesProjection,
    activityAliasesProjection,
    suppressionsProjection,
    sequencesProjection,
    enrollmentsProjection,
    contactSignalsProjection,
  ];
}
