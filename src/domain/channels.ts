/** Outbox channels (a send may also be `dry-run`, which stands for any of them). */
export const OUTBOX_CHANNELS = ['email', 'cal-com', 'linkedin', 'whatsapp', 'instagram'] as const;
export type OutboxChannel = (typeof OUTBOX_CHANNELS)[number];

export const SEND_CHANNELS = [...OUTBOX_CHANNELS, 'dry-run'] as const;
export type SendChannel = (typeof SEND_CHANNELS)[number];

/** Recipient forms: an email address, an E.164 phone number. */
export const EMAIL_ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const E164_NUMBER = /^\+[1-9]\d{6,14}$/;

/** Niches are slugs: lower-case letters, digits and dashes. */
export const NICHE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
