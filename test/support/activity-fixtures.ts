import type { ActivityRequest } from '../../src/domain/activity.js';

/** A send as the activity records it: an email an agent asked for, with whatever a spec needs changed. */
export function activityRequest(over: Partial<ActivityRequest> & Pick<ActivityRequest, 'activityId' | 'requestedAt'>): ActivityRequest {
  return {
    companyId: 'c1',
    outboxId: 'o1',
    channel: 'email',
    outboxChannel: 'email',
    to: 'ana@example.org',
    payload: { subject: 'Hi', text: 'x' },
    contentPieceId: null,
    niche: null,
    tags: [],
    clientDedupKey: null,
    requestHash: 'h',
    requestedBy: 'agent:a1',
    ...over,
  };
}
