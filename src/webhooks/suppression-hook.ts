import type { OutboxChannel } from '../domain/channels.js';

export interface SuppressionNotice {
  companyId: string;
  channel: OutboxChannel;
  recipient: string;
  reason: 'hard_bounce' | 'complaint';
  at: string;
  providerEventId: string;
  activityId: string | null;
}

/**
 * Where a hard bounce or a complaint reported by a webhook feeds the suppression list. Called after the event is
 * recorded, and again when the provider repeats the delivery: it must be idempotent.
 *
 * TODO(issue 6, suppressions): the suppressions branch brings `suppressRecipient(...)`; call it from here once
 * merged. Until then a bounce is recorded on its activity (visible in its delivery events) and nothing else.
 */
export type SuppressionHook = (notice: SuppressionNotice) => Promise<void>;

export const suppressFromWebhook: SuppressionHook = async () => {};
