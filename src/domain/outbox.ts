import type { OutboxChannel } from './channels.js';
import { changedFields } from './changes.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';
import type { QuotaLimit } from './quota-limits.js';

export const outboxStream = (outboxId: string) => `crm_outbox-${outboxId}`;

/** What a channel allows a day when the outbox does not say: the providers' own conservative limits. */
export const DEFAULT_DAILY_CAP: Record<OutboxChannel, number> = {
  email: 200,
  'cal-com': 50,
  linkedin: 50,
  whatsapp: 250,
  instagram: 100,
};

export interface OutboxFields {
  channel: OutboxChannel;
  niche: string | null;
  secretRef: string;
  /** The secret behind `secretRef`: the credential, whose daily quota outboxes sharing it share. */
  credentialId: string;
  config: Record<string, unknown>;
  dailyCap: number;
  timezone: string;
  /**
   * Limits beyond the daily cap (issue 18), shared by the outboxes on the credential as the cap is. Absent in
   * events before them: none of the outbox's own (the channel's defaults apply either way: `effectiveLimits`).
   */
  limits?: QuotaLimit[];
}

export type OutboxCommand =
  | { type: 'CreateOutbox'; outboxId: string; companyId: string; fields: OutboxFields; actor: string; now: string }
  | {
      type: 'UpdateOutbox';
      outboxId: string;
      companyId: string;
      changes: Partial<Omit<OutboxFields, 'channel'>>;
      actor: string;
      now: string;
    }
  | { type: 'DeleteOutbox'; outboxId: string; companyId: string; actor: string; now: string };

export type OutboxEvent =
  | DomainEvent<'OutboxCreated', { outboxId: string; companyId: string; fields: OutboxFields; createdBy: string; createdAt: string }>
  | DomainEvent<
      'OutboxUpdated',
      { outboxId: string; companyId: string; changes: Partial<OutboxFields>; updatedBy: string; updatedAt: string }
    >
  | DomainEvent<'OutboxDeleted', { outboxId: string; companyId: string; deletedBy: string; deletedAt: string }>;

export type OutboxState = { status: 'none' } | { status: 'active' | 'deleted'; companyId: string; fields: OutboxFields };

export const outboxDecider: Decider<OutboxCommand, OutboxState, OutboxEvent> = {
  initialState: () => ({ status: 'none' }),
  evolve(state, event) {
    switch (event.type) {
      case 'OutboxCreated':
        return { status: 'active', companyId: event.data.companyId, fields: event.data.fields };
      case 'OutboxUpdated':
        return state.status === 'none' ? state : { ...state, fields: { ...state.fields, ...event.data.changes } };
      case 'OutboxDeleted':
        return state.status === 'none' ? state : { ...state, status: 'deleted' };
    }
  },
  decide(command, state) {
    if (command.type === 'CreateOutbox') {
      if (state.status !== 'none') throw new DomainError('conflict', 'outbox id already used');
      return [
        {
          type: 'OutboxCreated',
          data: {
            outboxId: command.outboxId,
            companyId: command.companyId,
            fields: command.fields,
            createdBy: command.actor,
            createdAt: command.now,
          },
        },
      ];
    }
    if (state.status !== 'active' || state.companyId !== command.companyId) throw new DomainError('not_found', 'outbox not found');
    if (command.type === 'DeleteOutbox') {
      return [
        {
          type: 'OutboxDeleted',
          data: { outboxId: command.outboxId, companyId: command.companyId, deletedBy: command.actor, deletedAt: command.now },
        },
      ];
    }
    const changes = changedFields(state.fields, command.changes as Partial<OutboxFields>);
    if (Object.keys(changes).length === 0) return [];
    return [
      {
        type: 'OutboxUpdated',
        data: { outboxId: command.outboxId, companyId: command.companyId, changes, updatedBy: command.actor, updatedAt: command.now },
      },
    ];
  },
};
