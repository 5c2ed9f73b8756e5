import type { ActivityEvent } from '../domain/activity.js';
import type { OutboxChannel } from '../domain/channels.js';
import { canonicalRecipient } from '../domain/recipients.js';
import { type RecordedOf, defineProjection } from './projection.js';

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
type AliasRow = [AliasKind, string, string];
type AliasEvent = RecordedOf<Extract<ActivityEvent, { type: 'ActivityRequested' | 'ActivitySent' | 'ActivityDeliveryUpdated' }>>;

/** The aliases one event teaches, as rows (kind, alias, activity id); most events teach none. */
function aliasesOf(e: AliasEvent): AliasRow[] {
  if (e.type === 'ActivityRequested') {
    const channel = (e.data.outboxChannel ?? e.data.channel) as OutboxChannel;
    const canonical = recipientAlias(channel, e.data.to);
    return [
      ...(canonical !== e.data.to ? [['recipient', canonical, e.data.activityId] as AliasRow] : []),
      ...(e.data.recipientAliases ?? []).map((a): AliasRow => ['recipient', recipientAlias(channel, a), e.data.activityId]),
    ];
  }
  // As the adapter named them (a member id is its own canonical form).
  if (e.type === 'ActivitySent') return (e.data.recipientAliases ?? []).map((a): AliasRow => ['recipient', a, e.data.activityId]);
  return e.data.newProviderMessageId ? [['message', e.data.newProviderMessageId, e.data.activityId]] : [];
}

/**
 * crm_activity_aliases: what else a send is known by, learnt from its events (so a rebuild learns the same): a
 * recipient spelled otherwise than its request's `to` (a send requested before recipients were canonical), the
 * names a provider resolved or found for it, and a booking's uids after a reschedule. The names crm_activities
 * already holds are not repeated here. Most sends teach nothing: their events cost this projection no transaction.
 */
export const activityAliasesProjection = defineProjection<ActivityEvent>()({
  name: 'activity_aliases',
  tables: ['crm_activity_aliases'],
  eventTypes: ['ActivityRequested', 'ActivitySent', 'ActivityDeliveryUpdated'],
  writesFor: (e) => aliasesOf(e).length > 0,
  async apply(events, { tx, table }) {
    const rows = new Map<string, AliasRow>();
    for (const e of events) for (const r of aliasesOf(e)) rows.set(JSON.stringify(r), r);
    if (rows.size === 0) return;
    const all = [...rows.values()];
    await tx.query(
      `INSERT INTO ${table('crm_activity_aliases')} (kind, alias, activity_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) ON CONFLICT DO NOTHING`,
      [all.map((r) => r[0]), all.map((r) => r[1]), all.map((r) => r[2])],
    );
  },
});
