import type { ActivityEvent } from '../domain/activity.js';
import type { OutboxChannel } from '../domain/channels.js';
import { canonicalRecipient } from '../domain/recipients.js';
import { defineProjection } from './projection.js';

export type AliasKind = 'message' | 'recipient';

/** A recipient's name in the one spelling webhooks compare (src/domain/recipients.ts), or as given if it has none. */
export function recipientAlias(channel: OutboxChannel, name: string): string {
  return canonicalRecipient(channel, name) ?? name;
}

/**
 * crm_activity_aliases: what else a send is known by, learnt from its events (so a rebuild learns the same): a
 * recipient spelled otherwise than its request's `to` (a send requested before recipients were canonical), the
 * names a provider resolved or found for it, and a booking's uids after a reschedule. The names crm_activities
 * already holds are not repeated here.
 */
export const activityAliasesProjection = defineProjection<ActivityEvent>()({
  name: 'activity_aliases',
  tables: ['crm_activity_aliases'],
  eventTypes: ['ActivityRequested', 'ActivitySent', 'ActivityDeliveryUpdated'],
  async apply(events, { tx, table }) {
    const rows = new Map<string, [AliasKind, string, string]>();
    const add = (kind: AliasKind, alias: string, activityId: string) =>
      rows.set(JSON.stringify([kind, alias, activityId]), [kind, alias, activityId]);
    for (const e of events) {
      if (e.type === 'ActivityRequested') {
        const channel = (e.data.outboxChannel ?? e.data.channel) as OutboxChannel;
        const canonical = recipientAlias(channel, e.data.to);
        if (canonical !== e.data.to) add('recipient', canonical, e.data.activityId);
        for (const a of e.data.recipientAliases ?? []) add('recipient', recipientAlias(channel, a), e.data.activityId);
      } else if (e.type === 'ActivitySent') {
        // As the adapter named them (a member id is its own canonical form).
        for (const a of e.data.recipientAliases ?? []) add('recipient', a, e.data.activityId);
      } else if (e.type === 'ActivityDeliveryUpdated' && e.data.newProviderMessageId) {
        add('message', e.data.newProviderMessageId, e.data.activityId);
      }
    }
    if (rows.size === 0) return;
    const all = [...rows.values()];
    await tx.query(
      `INSERT INTO ${table('crm_activity_aliases')} (kind, alias, activity_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) ON CONFLICT DO NOTHING`,
      [all.map((r) => r[0]), all.map((r) => r[1]), all.map((r) => r[2])],
    );
  },
});
