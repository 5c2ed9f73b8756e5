import type { OutboxChannel } from '../domain/channels.js';
import { calComWebhook } from './cal-com.js';
import { emailWebhook } from './email.js';
import { instagramWebhook, whatsappWebhook } from './meta.js';
import type { WebhookProvider } from './provider.js';
import { unipileWebhook } from './unipile.js';

/** The webhook of each channel's provider (LinkedIn goes through Unipile). */
export const WEBHOOK_PROVIDERS: Record<OutboxChannel, WebhookProvider> = {
  whatsapp: whatsappWebhook,
  instagram: instagramWebhook,
  'cal-com': calComWebhook,
  linkedin: unipileWebhook,
  email: emailWebhook,
};
