import { describe, it } from 'vitest';
import { CLAIM_LEASE_MS, type ContentPieceFields, contentPieceDecider, sourcePathClaimDecider } from '../../src/domain/content-piece.js';
import { spec } from '../support/decider-spec.js';

const fields: ContentPieceFields = {
  title: 't',
  summary: null,
  sourcePath: 'a.md',
  sourceSha256: 'a'.repeat(64),
  tags: [],
  channelIntent: null,
  niche: null,
  frontmatter: null,
};
const now = '2026-11-30T10:00:00.000Z';
const created = { type: 'ContentPieceCreated' as const, data: { pieceId: 'p1', companyId: 'c1', fields, createdBy: 'u', createdAt: now } };

describe('content piece decider', () => {
  const piece = spec(contentPieceDecider);
  it('creates once', () => {
    piece.given([]).when({ type: 'CreateContentPiece', pieceId: 'p1', companyId: 'c1', fields, actor: 'u', now }).then([created]);
    piece
      .given([created])
      .when({ type: 'CreateContentPiece', pieceId: 'p1', companyId: 'c1', fields, actor: 'u', now })
      .thenThrows('conflict');
  });
  it('records only what changes', () => {
    piece
      .given([created])
      .when({ type: 'UpdateContentPiece', pieceId: 'p1', companyId: 'c1', changes: { title: 't', niche: 'solar' }, actor: 'u', now })
      .then([
        {
          type: 'ContentPieceUpdated',
          data: { pieceId: 'p1', companyId: 'c1', changes: { niche: 'solar' }, updatedBy: 'u', updatedAt: now },
        },
      ]);
    piece
      .given([created])
      .when({ type: 'UpdateContentPiece', pieceId: 'p1', companyId: 'c1', changes: { title: 't' }, actor: 'u', now })
      .then([]);
  });
  it('hides deleted, missing and other companies’ pieces alike', () => {
    const deleted = { type: 'ContentPieceDeleted' as const, data: { pieceId: 'p1', companyId: 'c1', deletedBy: 'u', deletedAt: now } };
    piece
      .given([created, deleted])
      .when({ type: 'DeleteContentPiece', pieceId: 'p1', companyId: 'c1', actor: 'u', now })
      .thenThrows('not_found');
    piece.given([]).when({ type: 'DeleteContentPiece', pieceId: 'p1', companyId: 'c1', actor: 'u', now }).thenThrows('not_found');
    piece
      .given([created])
      .when({ type: 'UpdateContentPiece', pieceId: 'p1', companyId: 'c2', changes: { title: 'x' }, actor: 'u', now })
      .thenThrows('not_found');
  });
});

describe('source path claim decider', () => {
  const claim = spec(sourcePathClaimDecider);
  const claimed = (pieceId: string, at = now) => ({
    type: 'SourcePathClaimed' as const,
    data: { pieceId, sourcePath: 'a.md', claimedAt: at },
  });
  const later = (ms: number) => new Date(Date.parse(now) + ms).toISOString();

  it('claims a free path, and is a no-op for its own holder', () => {
    claim
      .given([])
      .when({ type: 'ClaimSourcePath', pieceId: 'p1', sourcePath: 'a.md', holder: null, now })
      .then([claimed('p1')]);
    claim
      .given([claimed('p1')])
      .when({ type: 'ClaimSourcePath', pieceId: 'p1', sourcePath: 'a.md', holder: 'live', now })
      .then([]);
  });
  it('refuses a live holder, and a missing one within the lease (its creation may be in flight)', () => {
    claim
      .given([claimed('p1')])
      .when({ type: 'ClaimSourcePath', pieceId: 'p2', sourcePath: 'a.md', holder: 'live', now: later(10 * CLAIM_LEASE_MS) })
      .thenThrows('conflict', { existingId: 'p1' });
    claim
      .given([claimed('p1')])
      .when({ type: 'ClaimSourcePath', pieceId: 'p2', sourcePath: 'a.md', holder: 'missing', now: later(1000) })
      .thenThrows('conflict', { existingId: 'p1' });
  });
  it('takes over a gone holder at once and a missing one after the lease', () => {
    claim
      .given([claimed('p1')])
      .when({ type: 'ClaimSourcePath', pieceId: 'p2', sourcePath: 'a.md', holder: 'gone', now })
      .then([claimed('p2')]);
    claim
      .given([claimed('p1')])
      .when({ type: 'ClaimSourcePath', pieceId: 'p2', sourcePath: 'a.md', holder: 'missing', now: later(CLAIM_LEASE_MS) })
      .then([claimed('p2', later(CLAIM_LEASE_MS))]);
  });
  it('releases only its own claim', () => {
    claim
      .given([claimed('p1')])
      .when({ type: 'ReleaseSourcePath', pieceId: 'p2', now })
      .then([]);
    claim
      .given([claimed('p1')])
      .when({ type: 'ReleaseSourcePath', pieceId: 'p1', now })
      .then([{ type: 'SourcePathReleased', data: { pieceId: 'p1', releasedAt: now } }]);
  });
});
