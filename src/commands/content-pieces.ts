import { createHash, randomUUID } from 'node:crypto';
import {
  type ContentPieceFields,
  type HolderStatus,
  contentPieceDecider,
  contentPieceStream,
  sourcePathClaimDecider,
  sourcePathClaimStream,
} from '../domain/content-piece.js';
import { canonicalSourcePath } from '../domain/source-path.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import { loadAggregate } from './handle-command.js';

const pathHash = (sourcePath: string) => createHash('sha256').update(canonicalSourcePath(sourcePath), 'utf8').digest('hex').slice(0, 40);

async function holderStatus(store: EventStore, holder: string | null, sourcePath: string): Promise<HolderStatus | null> {
  if (holder === null) return null;
  const { state } = await loadAggregate(store, contentPieceStream(holder), contentPieceDecider);
  if (state.status === 'none') return 'missing';
  return state.status === 'active' && canonicalSourcePath(state.fields.sourcePath) === canonicalSourcePath(sourcePath) ? 'live' : 'gone';
}

/** Claims (company, sourcePath) for a piece; a live holder makes it a 409 carrying the holder's id. */
const claimOf = (companyId: string, sourcePath: string) => ({ companyId, sourcePath });
const sourcePathClaim = commandHandlerFor(sourcePathClaimDecider, (c: { companyId: string; sourcePath: string }) =>
  sourcePathClaimStream(c.companyId, pathHash(c.sourcePath)),
);
const contentPiece = commandHandlerFor(contentPieceDecider, contentPieceStream);

const claimSourcePath = (store: EventStore, companyId: string, sourcePath: string, pieceId: string, actor: Actor, now: Date) =>
  sourcePathClaim(store, claimOf(companyId, sourcePath), { actor, now }, (s) => async (state) => ({
    type: 'ClaimSourcePath' as const,
    ...{ pieceId, sourcePath, holder: await holderStatus(store, state.holder, sourcePath) },
    now: s.now,
  }));

const releaseSourcePath = (store: EventStore, companyId: string, sourcePath: string, pieceId: string, actor: Actor, now: Date) =>
  sourcePathClaim(store, claimOf(companyId, sourcePath), { actor, now }, (s) => ({ type: 'ReleaseSourcePath', pieceId, now: s.now }));

export async function createContentPiece(
  store: EventStore,
  input: { companyId: string; fields: ContentPieceFields },
  actor: Actor,
  now: Date,
): Promise<{ id: string; position: Position | null }> {
  const pieceId = randomUUID();
  // The claim first: of two racing identical creations, one claims and the other gets the 409.
  await claimSourcePath(store, input.companyId, input.fields.sourcePath, pieceId, actor, now);
  try {
    const r = await contentPiece(store, pieceId, { actor, now }, (s) => ({
      type: 'CreateContentPiece',
      pieceId,
      ...input,
      actor: s.by,
      now: s.now,
    }));
    return { id: pieceId, position: r.position };
  } catch (err) {
    // Free the path at once rather than after the lease (best effort: a stale claim is taken over anyway).
    await releaseSourcePath(store, input.companyId, input.fields.sourcePath, pieceId, actor, now).catch(() => {});
    throw err;
  }
}

export async function updateContentPiece(
  store: EventStore,
  input: { companyId: string; pieceId: string; changes: Partial<ContentPieceFields> },
  actor: Actor,
  now: Date,
): Promise<{ position: Position | null }> {
  const { state } = await loadAggregate(store, contentPieceStream(input.pieceId), contentPieceDecider);
  const oldPath = state.status === 'active' && state.companyId === input.companyId ? state.fields.sourcePath : null;
  const moving =
    oldPath !== null &&
    input.changes.sourcePath !== undefined &&
    canonicalSourcePath(input.changes.sourcePath) !== canonicalSourcePath(oldPath);
  if (moving) await claimSourcePath(store, input.companyId, input.changes.sourcePath!, input.pieceId, actor, now);
  const r = await contentPiece(store, input.pieceId, { actor, now }, (s) => ({
    type: 'UpdateContentPiece',
    ...input,
    actor: s.by,
    now: s.now,
  }));
  // A claim left behind by a crash here is stale (its holder moved) and is taken over when next claimed.
  if (moving) await releaseSourcePath(store, input.companyId, oldPath, input.pieceId, actor, now);
  return { position: r.position };
}

export async function deleteContentPiece(
  store: EventStore,
  input: { companyId: string; pieceId: string },
  actor: Actor,
  now: Date,
): Promise<{ position: Position | null }> {
  const r = await contentPiece(store, input.pieceId, { actor, now }, (s) => ({
    type: 'DeleteContentPiece',
    ...input,
    actor: s.by,
    now: s.now,
  }));
  if (r.state.status !== 'none') await releaseSourcePath(store, input.companyId, r.state.fields.sourcePath, input.pieceId, actor, now);
  return { position: r.position };
}
