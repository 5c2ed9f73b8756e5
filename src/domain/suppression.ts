import { derivedUuid } from './derived-id.js';
import { normalizeRecipient } from './allowlist.js';
import { E164_NUMBER, EMAIL_ADDRESS, OUTBOX_CHANNELS, type OutboxChannel, type SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';

/**
 * One stream per (company, recipient, scope), named by a UUID derived from the three: suppressing twice lands
 * on the same stream (idempotent by construction, concurrent writers meet on one exact revision), and the
 * dispatcher can name the streams that concern a send without any lookup. The scope is a channel, or `*` for
 * every channel.
 */
export const suppressionStream = (suppressionId: string) => `crm_suppression-${suppressionId}`;

export const SUPPRESSION_SOURCES = ['manual', 'unsubscribe', 'bounce', 'complaint'] as const;
export type SuppressionSource = (typeof SUPPRESSION_SOURCES)[number];

export interface SuppressionEntry {
  suppressionId: string;
  companyId: string;
  /** Normalised (see `normalizeRecipient`): emails lower-cased, so that they compare. */
  recipient: string;
  /** null: every channel. */
  channel: OutboxChannel | null;
  source: SuppressionSource;
  /** Why, in a word: `manual`, `one_click`, or the provider's code for a bounce (`smtp_550`). */
  reason: string | null;
  createdAt: string;
  createdBy: string;
}

export type SuppressionCommand =
  | { type: 'SuppressRecipient'; entry: SuppressionEntry }
  | { type: 'LiftSuppression'; companyId: string; suppressionId: string; actor: string; now: string };

export type SuppressionEvent =
  | DomainEvent<'RecipientSuppressed', { entry: SuppressionEntry }>
  | DomainEvent<'SuppressionLifted', { suppressionId: string; companyId: string; recipient: string; liftedBy: string; liftedAt: string }>;

/** The entry in force, or null (never suppressed, or lifted). */
export type SuppressionState = { active: SuppressionEntry | null };

export const suppressionDecider: Decider<SuppressionCommand, SuppressionState, SuppressionEvent> = {
  initialState: () => ({ active: null }),
  evolve(_state, event) {
    return event.type === 'RecipientSuppressed' ? { active: event.data.entry } : { active: null };
  },
  decide(command, state) {
    if (command.type === 'SuppressRecipient') {
      // Already suppressed: the first entry stands (its source and date are the useful facts).
      if (state.active) return [];
      return [{ type: 'RecipientSuppressed', data: { entry: command.entry } }];
    }
    const active = state.active;
    if (!active || active.companyId !== command.companyId || active.suppressionId !== command.suppressionId) {
      throw new DomainError('not_found', 'suppression not found');
    }
    return [
      {
        type: 'SuppressionLifted',
        data: { suppressionId: active.suppressionId, companyId: active.companyId, recipient: active.recipient, liftedBy: command.actor, liftedAt: command.now },
      },
    ];
  },
};

// ---------------------------------------------------------------------------------------------------------
// Identity and matching

/** The id (and so the stream) of a suppression: a UUID made from company, normalised recipient and scope. */
export function suppressionId(companyId: string, recipient: string, channel: OutboxChannel | null): string {
  return derivedUuid('suppression', companyId, normalizeRecipient(recipient), channel ?? '*');
}

/**
 * The streams a send to `to` must consult: every-channel plus its own channel's. A dry run's channel is its
 * outbox's, not known before the outbox is read, so it consults every scope (still one read).
 */
export function suppressionStreamsFor(companyId: string, to: string, channel: SendChannel): string[] {
  const scopes: (OutboxChannel | null)[] = channel === 'dry-run' ? [null, ...OUTBOX_CHANNELS] : [null, channel];
  return scopes.map((scope) => suppressionStream(suppressionId(companyId, to, scope)));
}

/** The entry that forbids contacting a recipient on `channel`, among the states of its streams; or null. */
export function suppressedBy(states: Iterable<SuppressionState>, channel: OutboxChannel): SuppressionEntry | null {
  for (const s of states) {
    if (s.active && (s.active.channel === null || s.active.channel === channel)) return s.active;
  }
  return null;
}

const HANDLE_OR_URL = /^(?:@?[A-Za-z0-9._-]{1,100}|https?:\/\/\S+)$/i;

/**
 * A recipient in a form that can be suppressed, normalised; null when malformed. With a channel, the form must
 * be that channel's (an email for email and cal-com, E.164 for WhatsApp).
 */
export function parseSuppressedRecipient(raw: string, channel: OutboxChannel | null): string | null {
  const t = raw.trim();
  if (t.length === 0 || t.length > 320) return null;
  const isEmail = EMAIL_ADDRESS.test(t);
  const isPhone = E164_NUMBER.test(t);
  const ok =
    channel === 'email' || channel === 'cal-com'
      ? isEmail
      : channel === 'whatsapp'
        ? isPhone
        : channel === null
          ? isEmail || isPhone || HANDLE_OR_URL.test(t)
          : isEmail || HANDLE_OR_URL.test(t);
  return ok ? normalizeRecipient(t) : null;
}
