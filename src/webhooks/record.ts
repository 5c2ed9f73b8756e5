import { handleCommand } from '../commands/handle-command.js';
import { type ActivityCommand, activityDecider, activityStream } from '../domain/activity.js';
import type { OutboxChannel } from '../domain/channels.js';
import { type ContactCommand, type ContactKey, contactDecider, contactStream } from '../domain/contact.js';
import { DomainError } from '../domain/decider.js';
import { derivedUuid } from '../domain/derived-id.js';
import { type EventMetadata, type EventStore, IdempotencyConflictError, type Position } from '../eventstore/port.js';
import { Positions } from '../eventstore/positions.js';
import { type AliasKind, recipientAlias } from '../projections/activity-aliases.js';
import type { Queryable } from '../sql/db.js';
import type { InboundNotice } from './notices.js';
import type { SuppressionHook } from './suppression-hook.js';

export interface WebhookOutbox {
  outboxId: string;
  companyId: string;
  channel: OutboxChannel;
  config: Record<string, unknown>;
}

export interface RecordDeps {
  store: EventStore;
  db: Queryable;
  suppress: SuppressionHook;
}

export interface RecordResult {
  /** Events newly written (a repeated delivery writes none). */
  recorded: number;
  position: Position | null;
}

/**
 * The stored id of what a provider event records. A delivery gets one id whichever stream it lands on (the
 * activity, or the contact when no activity matched yet), so a replay that now finds the activity is still
 * recorded once; a reply is recorded on the contact and on the activity it answers, each once.
 */
export function inboundEventId(
  companyId: string,
  channel: string,
  providerEventId: string,
  target: 'delivery' | 'reply' | 'contact',
): string {
  return derivedUuid(companyId, channel, target, providerEventId);
}

const ACCOUNT_FIELD: Partial<Record<OutboxChannel, string>> = { whatsapp: 'phoneNumberId', instagram: 'igUserId', linkedin: 'accountId' };

/** The provider account an outbox sends from, when a payload does not name one. */
function outboxAccount(o: WebhookOutbox): string {
  const field = ACCOUNT_FIELD[o.channel];
  const v = field ? o.config[field] : undefined;
  return typeof v === 'string' ? v : o.outboxId;
}

/**
 * The provider accounts of the company's live outboxes on the channel. One Meta app (or Unipile workspace) may
 * serve several companies' accounts and post all of them to each webhook URL: an event for an account the
 * company has no outbox on is not the company's to record.
 */
async function companyAccounts(db: Queryable, o: WebhookOutbox): Promise<Set<string>> {
  const field = ACCOUNT_FIELD[o.channel];
  const accounts = new Set([outboxAccount(o)]);
  if (!field) return accounts;
  const { rows } = await db.query<{ account: string | null }>(
    `SELECT config->>$3 AS account FROM crm_outboxes WHERE company_id = $1 AND channel = $2 AND deleted_at IS NULL`,
    [o.companyId, o.channel, field],
  );
  for (const r of rows) if (r.account) accounts.add(r.account);
  return accounts;
}

/**
 * The latest of the company's sends on the channel known by one of `names`: under the name crm_activities holds
 * (`column`), or under one learnt since (crm_activity_aliases of `kind`), whichever is newer.
 */
async function latestKnownAs(
  db: Queryable,
  o: WebhookOutbox,
  column: 'provider_message_id' | 'recipient',
  kind: AliasKind,
  names: string[],
  onlySent: boolean,
) {
  if (names.length === 0) return null;
  const sent = onlySent ? `AND a.status = 'sent'` : '';
  const { rows } = await db.query<{ id: string; recipient: string }>(
    `SELECT id, recipient FROM (
       SELECT a.id, a.recipient, a.created_at FROM crm_activities a
        WHERE a.company_id = $1 AND a.channel = $2 AND a.${column} = ANY($3::text[]) ${sent}
       UNION
       SELECT a.id, a.recipient, a.created_at FROM crm_activity_aliases k JOIN crm_activities a ON a.id = k.activity_id
        WHERE k.kind = $4 AND k.alias = ANY($3::text[]) AND a.company_id = $1 AND a.channel = $2 ${sent}
     ) known ORDER BY created_at DESC LIMIT 1`,
    [o.companyId, o.channel, names, kind],
  );
  return rows[0] ?? null;
}

/** The send a provider's message id names: the id it was sent under, or one it was given since (a rescheduled booking's). */
const activityByProviderMessage = (db: Queryable, o: WebhookOutbox, ids: string[]) =>
  latestKnownAs(db, o, 'provider_message_id', 'message', ids, false);

/**
 * A reply that names no message answers the latest message sent to that person on the channel, by any of their
 * names: as the provider wrote it, or canonical (a profile URL with a trailing slash, `http://`, `www.` or
 * capitals is the same profile).
 */
const latestSentTo = (db: Queryable, o: WebhookOutbox, recipients: string[]) =>
  latestKnownAs(db, o, 'recipient', 'recipient', [...new Set(recipients.flatMap((r) => [r, recipientAlias(o.channel, r)]))], true);

const ALREADY_RECORDED = { written: false, position: null };

/**
 * Records a verified webhook's notices: delivery updates and replies on the send they are about (found by the
 * provider's message id in the activities read model), inbound messages on the sender's contact stream (which
 * opens the messaging window), and what matches no send on the contact. Each event is appended alone under a
 * deterministic id, so a delivery the provider repeats, or a retry after a partial failure, writes nothing twice.
 */
export class InboundRecorder {
  private readonly metadata: EventMetadata;

  constructor(
    private readonly deps: RecordDeps,
    private readonly outbox: WebhookOutbox,
  ) {
    this.metadata = { actor: { type: 'system', id: `webhook:${outbox.channel}` }, schemaVersion: 1 };
  }

  async record(notices: InboundNotice[]): Promise<RecordResult> {
    let recorded = 0;
    const positions = new Positions();
    if (notices.length === 0) return { recorded, position: null };
    const note = (r: { written: boolean; position: Position | null } | null) => {
      if (!r) return;
      if (r.written) recorded++;
      positions.add(r.position);
    };
    const accounts = await companyAccounts(this.deps.db, this.outbox);
    for (const n of notices) {
      if (n.account !== null && !accounts.has(n.account)) continue;
      const key = (contact: string): ContactKey => ({
        companyId: this.outbox.companyId,
        channel: this.outbox.channel,
        account: n.account ?? outboxAccount(this.outbox),
        contact,
      });
      if (n.kind === 'delivery') {
        const activity =
          (await activityByProviderMessage(this.deps.db, this.outbox, n.providerMessageIds)) ??
          (n.providerMessageIds.length === 0 ? await latestSentTo(this.deps.db, this.outbox, n.recipients) : null);
        if (activity) {
          const command: ActivityCommand = {
            type: 'RecordDelivery',
            state: n.state,
            at: n.at,
            providerEventId: n.providerEventId,
            ...(n.error ? { error: n.error } : {}),
            ...(n.newProviderMessageId ? { newProviderMessageId: n.newProviderMessageId } : {}),
          };
          note(await this.onActivity(activity.id, 'delivery', n.providerEventId, command));
        } else if (n.recipients[0]) {
          const providerMessageId = n.providerMessageIds[0] ?? null;
          note(
            await this.onContact(key(n.recipients[0]), 'delivery', n.providerEventId, {
              type: 'RecordUnmatchedDelivery',
              key: key(n.recipients[0]),
              state: n.state,
              at: n.at,
              providerEventId: n.providerEventId,
              providerMessageId,
              ...(n.error ? { error: n.error } : {}),
            }),
          );
        }
        const recipient = activity?.recipient ?? n.recipients[0];
        if (n.suppress && recipient) {
          // Asked on a repeat too: the suppression stream knows the reports it took (a replay after a lift changes
          // nothing; a retry after a failure between the two writes still suppresses). Part of what the webhook's
          // reply waits for: the next read of the suppression list shows it.
          const cause = inboundEventId(this.outbox.companyId, this.outbox.channel, n.providerEventId, 'delivery');
          note({
            written: false,
            position: await this.deps.suppress({
              companyId: this.outbox.companyId,
              channel: this.outbox.channel,
              recipient,
              reason: n.suppress,
              cause,
            }),
          });
        }
      } else {
        const activity =
          (n.inReplyTo ? await activityByProviderMessage(this.deps.db, this.outbox, n.inReplyToForms ?? [n.inReplyTo]) : null) ??
          (await latestSentTo(this.deps.db, this.outbox, [n.from]));
        const k = key(n.from);
        note(
          await this.onContact(k, 'contact', n.providerEventId, {
            type: 'RecordInbound',
            key: k,
            at: n.at,
            text: n.text,
            providerEventId: n.providerEventId,
            activityId: activity?.id ?? null,
            ...(n.choice ? { choice: n.choice } : {}),
          }),
        );
        if (activity)
          note(
            await this.onActivity(activity.id, 'reply', n.providerEventId, {
              type: 'RecordReply',
              at: n.at,
              text: n.text,
              providerEventId: n.providerEventId,
              ...(n.choice ? { choice: n.choice } : {}),
            }),
          );
      }
    }
    return { recorded, position: positions.last };
  }

  /** Decided on the activity's current state (a send not `sent` takes no delivery), appended at its revision. */
  private async onActivity(activityId: string, target: 'delivery' | 'reply', providerEventId: string, command: ActivityCommand) {
    const id = inboundEventId(this.outbox.companyId, this.outbox.channel, providerEventId, target);
    try {
      const r = await handleCommand(this.deps.store, activityStream(activityId), activityDecider, command, {
        metadata: this.metadata,
        eventIds: () => id,
        maxAttempts: 10,
      });
      return { written: r.events.length > 0 && !r.duplicate, position: r.position };
    } catch (err) {
      if (err instanceof DomainError) return null; // not (or no longer) a sent message: nothing to attach it to
      if (err instanceof IdempotencyConflictError) return ALREADY_RECORDED; // on another stream (see inboundEventId)
      throw err;
    }
  }

  /** Contact events are provider facts with no invariant to keep: appended at any revision, once per id. */
  private async onContact(key: ContactKey, target: 'delivery' | 'contact', providerEventId: string, command: ContactCommand) {
    const [event] = contactDecider.decide(command, contactDecider.initialState());
    const id = inboundEventId(this.outbox.companyId, this.outbox.channel, providerEventId, target);
    try {
      const r = await this.deps.store.append(
        contactStream(key),
        [{ id, type: event!.type, data: event!.data, metadata: this.metadata }],
        'any',
      );
      return { written: !r.duplicate, position: r.position };
    } catch (err) {
      if (err instanceof IdempotencyConflictError) return ALREADY_RECORDED;
      throw err;
    }
  }
}
