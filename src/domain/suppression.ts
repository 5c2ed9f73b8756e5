import { derivedUuid } from './derived-id.js';
import type { OutboxChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';
import { suppressionKey, suppressionKeysFor } from './recipients.js';

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
  /** The recipient's key (see `suppressionKey` in recipients.ts): canonical, case folded, so that they compare. */
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
  | {
      type: 'SuppressRecipient';
      entry: SuppressionEntry;
      /**
       * The recorded provider event that reports it (a webhook's bounce or complaint: the id of its delivery
       * event). A report takes effect once: replayed after a person lifted the suppression, it changes nothing.
       */
      cause?: string;
    }
  | { type: 'LiftSuppression'; companyId: string; suppressionId: string; actor: string; now: string };

export type SuppressionEvent =
  | DomainEvent<'RecipientSuppressed', { entry: SuppressionEntry; cause?: string }>
  | DomainEvent<'SuppressionLifted', { suppressionId: string; companyId: string; recipient: string; liftedBy: string; liftedAt: string }>
  /** A report that came while the recipient was already suppressed: kept so that its replay after a lift is known. */
  | DomainEvent<
      'SuppressionCauseNoted',
      { suppressionId: string; companyId: string; cause: string; source: SuppressionSource; notedAt: string }
    >;

/** The entry in force, or null (never suppressed, or lifted); and the reports already taken into account. */
export type SuppressionState = { active: SuppressionEntry | null; causes: readonly string[] };

export const suppressionDecider: Decider<SuppressionCommand, SuppressionState, SuppressionEvent> = {
  initialState: () => ({ active: null, causes: [] }),
  evolve(state, event) {
    switch (event.type) {
      case 'RecipientSuppressed':
        return { active: event.data.entry, causes: event.data.cause ? [...state.causes, event.data.cause] : state.causes };
      case 'SuppressionCauseNoted':
        return { ...state, causes: [...state.causes, event.data.cause] };
      case 'SuppressionLifted':
        return { ...state, active: null };
      default:
        return state;
    }
  },
  decide(command, state) {
    if (command.type === 'SuppressRecipient') {
      const { cause } = command;
      // A report seen before (its webhook replayed, or repeated by the provider): it has had its effect, and a
      // person may have lifted the suppression since.
      if (cause && state.causes.includes(cause)) return [];
      if (state.active) {
        // Already suppressed: the first entry stands (its source and date are the useful facts).
        if (!cause) return [];
        const { suppressionId, companyId } = state.active;
        return [
          {
            type: 'SuppressionCauseNoted',
            data: { suppressionId, companyId, cause, source: command.entry.source, notedAt: command.entry.createdAt },
          },
        ];
      }
      return [{ type: 'RecipientSuppressed', data: { entry: command.entry, ...(cause ? { cause } : {}) } }];
    }
    const active = state.active;
    if (!active || active.companyId !== command.companyId || active.suppressionId !== command.suppressionId) {
      throw new DomainError('not_found', 'suppression not found');
    }
    return [
      {
        type: 'SuppressionLifted',
        data: {
          suppressionId: active.suppressionId,
          companyId: active.companyId,
          recipient: active.recipient,
          liftedBy: command.actor,
          liftedAt: command.now,
        },
      },
    ];
  },
};

// ---------------------------------------------------------------------------------------------------------
// Identity and matching

/**
 * The id (and so the stream) of a suppression: a UUID made from company, recipient key and scope. Keys are
 * case folded (`recipientKey`), and so is `recipient` here, which keeps the ids of entries stored before
 * recipients were canonical.
 */
export function suppressionId(companyId: string, recipient: string, channel: OutboxChannel | null): string {
  return derivedUuid('suppression', companyId, recipient.trim().toLowerCase(), channel ?? '*');
}

/**
 * The streams a send on `channel` to a recipient known by `keys` (`recipientKeys`) must consult: every-channel
 * plus its own channel's, for each key and for the mailboxes and former spellings that come down to it
 * (`suppressionKeysFor`). Still one read, whatever their number.
 */
export function suppressionStreamsFor(companyId: string, keys: readonly string[], channel: OutboxChannel): string[] {
  return suppressionKeysFor(channel, keys).flatMap((key) =>
    [null, channel].map((scope) => suppressionStream(suppressionId(companyId, key, scope))),
  );
}

/** The entry that forbids contacting a recipient on `channel`, among the states of its streams; or null. */
export function suppressedBy(states: Iterable<SuppressionState>, channel: OutboxChannel): SuppressionEntry | null {
  for (const s of states) {
    if (s.active && (s.active.channel === null || s.active.channel === channel)) return s.active;
  }
  return null;
}

/**
 * A recipient in a form that can be suppressed, as its key; null when malformed. With a channel, the form must
 * be that channel's (an email for email and cal-com, E.164 for WhatsApp, an IGSID for Instagram, a member for
 * LinkedIn). `generous`: read an email the way it was delivered (the system's own sources; see `suppressionKey`).
 */
export function parseSuppressedRecipient(raw: string, channel: OutboxChannel | null, generous = false): string | null {
  if (raw.length > 2000) return null;
  return suppressionKey(raw, channel, generous);
}
