import type { ActivityError, ActivityEvent, ReplyChoice } from '../domain/activity.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

/** crm_activity_delivery_events: what providers reported after a send, shown with the activity. */
export const activityDeliveriesProjection = defineProjection<ActivityEvent>()({
  name: 'activity_deliveries',
  tables: ['crm_activity_delivery_events'],
  on: {
    ActivityDeliveryUpdated: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_activity_delivery_events')} (activity_id, provider_event_id, kind, state, at, error) VALUES ($1, $2, 'delivery', $3, $4, $5) ON CONFLICT DO NOTHING`,
        [d.activityId, d.providerEventId, d.state, d.at, d.error ? JSON.stringify(d.error) : null],
      ),
    ActivityReplyReceived: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_activity_delivery_events')} (activity_id, provider_event_id, kind, at, text, choice) VALUES ($1, $2, 'reply', $3, $4, $5) ON CONFLICT DO NOTHING`,
        [d.activityId, d.providerEventId, d.at, d.text, d.choice ? JSON.stringify(d.choice) : null],
      ),
  },
});

interface Row {
  provider_event_id: string;
  kind: 'delivery' | 'reply';
  state: string | null;
  at: Date;
  text: string | null;
  error: ActivityError | null;
  choice: ReplyChoice | null;
}

/** Receipts of one second (Meta's resolution) are ordered by how far the message got. */
const RANK: Record<string, number> = {
  sent: 1,
  booking_created: 1,
  delivered: 2,
  booking_rescheduled: 2,
  read: 3,
  accepted: 3,
  booking_cancelled: 4,
  failed: 5,
  bounced: 5,
  complained: 6,
};

/**
 * The delivery events of an activity (oldest first) and its delivery status: the latest state reported. Call
 * only for an activity already checked to be the company's.
 */
export async function deliveryOf(q: Queryable, activityId: string) {
  const { rows } = await q.query<Row>(
    `SELECT provider_event_id, kind, state, at, text, error, choice FROM crm_activity_delivery_events WHERE activity_id = $1`,
    [activityId],
  );
  const rank = (r: Row) => (r.state ? (RANK[r.state] ?? 0) : 0);
  rows.sort((a, b) => a.at.getTime() - b.at.getTime() || rank(a) - rank(b) || a.provider_event_id.localeCompare(b.provider_event_id));
  const deliveries = rows.filter((r) => r.kind === 'delivery');
  return {
    deliveryStatus: deliveries.at(-1)?.state ?? null,
    deliveryEvents: rows.map((r) =>
      r.kind === 'delivery'
        ? {
            type: 'delivery' as const,
            state: r.state,
            at: r.at,
            providerEventId: r.provider_event_id,
            ...(r.error ? { error: r.error } : {}),
          }
        : {
            type: 'reply' as const,
            at: r.at,
            text: r.text,
            providerEventId: r.provider_event_id,
            ...(r.choice ? { choice: r.choice } : {}),
          },
    ),
  };
}
