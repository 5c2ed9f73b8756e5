import { changedFields } from './changes.js';
import type { SendChannel } from './channels.js';
import { type Decider, type DomainEvent, DomainError } from './decider.js';

export const contentPieceStream = (pieceId: string) => `crm_content_piece-${pieceId}`;

export interface ContentPieceFields {
  title: string;
  summary: string | null;
  sourcePath: string;
  sourceSha256: string;
  tags: string[];
  channelIntent: SendChannel | null;
  niche: string | null;
  frontmatter: Record<string, unknown> | null;
}

export type ContentPieceCommand =
  | { type: 'CreateContentPiece'; pieceId: string; companyId: string; fields: ContentPieceFields; actor: string; now: string }
  | { type: 'UpdateContentPiece'; pieceId: string; companyId: string; changes: Partial<ContentPieceFields>; actor: string; now: string }
  | { type: 'DeleteContentPiece'; pieceId: string; companyId: string; actor: string; now: string };

export type ContentPieceEvent =
  | DomainEvent<
      'ContentPieceCreated',
      { pieceId: string; companyId: string; fields: ContentPieceFields; createdBy: string; createdAt: string }
    >
  | DomainEvent<
      'ContentPieceUpdated',
      { pieceId: string; companyId: string; changes: Partial<ContentPieceFields>; updatedBy: string; updatedAt: string }
    >
  | DomainEvent<'ContentPieceDeleted', { pieceId: string; companyId: string; deletedBy: string; deletedAt: string }>;

export type ContentPieceState = { status: 'none' } | { status: 'active' | 'deleted'; companyId: string; fields: ContentPieceFields };

export const contentPieceDecider: Decider<ContentPieceCommand, ContentPieceState, ContentPieceEvent> = {
  initialState: () => ({ status: 'none' }),

  evolve(state, event) {
    switch (event.type) {
      case 'ContentPieceCreated':
        return { status: 'active', companyId: event.data.companyId, fields: event.data.fields };
      case 'ContentPieceUpdated':
        return state.status === 'none' ? state : { ...state, fields: { ...state.fields, ...event.data.changes } };
      case 'ContentPieceDeleted':
        return state.status === 'none' ? state : { ...state, status: 'deleted' };
    }
  },

  decide(command, state) {
    if (command.type === 'CreateContentPiece') {
      if (state.status !== 'none') throw new DomainError('conflict', 'content piece id already used');
      return [
        {
          type: 'ContentPieceCreated',
          data: {
            pieceId: command.pieceId,
            companyId: command.companyId,
            fields: command.fields,
            createdBy: command.actor,
            createdAt: command.now,
          },
        },
      ];
    }
    // Deleted, missing and another company's pieces all look the same from outside.
    if (state.status !== 'active' || state.companyId !== command.companyId) throw new DomainError('not_found', 'content piece not found');
    if (command.type === 'DeleteContentPiece') {
      return [
        {
          type: 'ContentPieceDeleted',
          data: { pieceId: command.pieceId, companyId: command.companyId, deletedBy: command.actor, deletedAt: command.now },
        },
      ];
    }
    const changes = changedFields(state.fields, command.changes as Partial<ContentPieceFields>);
    if (Object.keys(changes).length === 0) return [];
    return [
      {
        type: 'ContentPieceUpdated',
        data: { pieceId: command.pieceId, companyId: command.companyId, changes, updatedBy: command.actor, updatedAt: command.now },
      },
    ];
  },
};

// ---------------------------------------------------------------------------------------------------------
// Unique (company, sourcePath) among live pieces, enforced on the write side: one claim stream per path.

/** How long a claim whose piece does not exist yet counts as held (the creating request may be in flight). */
export const CLAIM_LEASE_MS = 60_000;

/**
 * What the claim's holder is, read by the caller from the holder's own stream: `live` (an active piece at this
 * path), `gone` (deleted, or moved to another path) or `missing` (not created: in flight, or crashed).
 */
export type HolderStatus = 'live' | 'gone' | 'missing';

export type SourcePathClaimCommand =
  | { type: 'ClaimSourcePath'; pieceId: string; sourcePath: string; holder: HolderStatus | null; now: string }
  | { type: 'ReleaseSourcePath'; pieceId: string; now: string };

export type SourcePathClaimEvent =
  | DomainEvent<'SourcePathClaimed', { pieceId: string; sourcePath: string; claimedAt: string }>
  | DomainEvent<'SourcePathReleased', { pieceId: string; releasedAt: string }>;

export type SourcePathClaimState = { holder: string | null; claimedAt: string | null };

export const sourcePathClaimStream = (companyId: string, pathHash: string) => `crm_content_path-${companyId}.${pathHash}`;

export const sourcePathClaimDecider: Decider<SourcePathClaimCommand, SourcePathClaimState, SourcePathClaimEvent> = {
  initialState: () => ({ holder: null, claimedAt: null }),
  evolve(state, event) {
    if (event.type === 'SourcePathClaimed') return { holder: event.data.pieceId, claimedAt: event.data.claimedAt };
    return state.holder === event.data.pieceId ? { holder: null, claimedAt: null } : state;
  },
  decide(command, state) {
    if (command.type === 'ReleaseSourcePath') {
      if (state.holder !== command.pieceId) return [];
      return [{ type: 'SourcePathReleased', data: { pieceId: command.pieceId, releasedAt: command.now } }];
    }
    if (state.holder === command.pieceId) return [];
    if (state.holder !== null) {
      const pending = command.holder === 'missing' && Date.parse(command.now) - Date.parse(state.claimedAt!) < CLAIM_LEASE_MS;
      if (command.holder === 'live' || pending) {
        throw new DomainError('conflict', 'a content piece with this sourcePath exists', { existingId: state.holder });
      }
    }
    return [{ type: 'SourcePathClaimed', data: { pieceId: command.pieceId, sourcePath: command.sourcePath, claimedAt: command.now } }];
  },
};
