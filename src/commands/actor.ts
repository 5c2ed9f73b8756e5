import type { EventMetadata } from '../eventstore/port.js';

/** Who acts: a person with a board token, an agent with its key, or the local operator (CLI, local_trusted). */
export type Actor =
  | { kind: 'board'; tokenId: string | null; userId: string; instanceAdmin: boolean; companyIds: string[] }
  | { kind: 'agent'; tokenId: string; agentId: string; companyId: string };

export const LOCAL_OPERATOR: Actor = { kind: 'board', tokenId: null, userId: 'local', instanceAdmin: true, companyIds: [] };

/** The service itself (start-up work). */
export const SYSTEM_ACTOR: Actor = { kind: 'board', tokenId: null, userId: 'system', instanceAdmin: true, companyIds: [] };

/** The actor as written into events: who, never a credential. */
export function actorLabel(actor: Actor): string {
  return actor.kind === 'board' ? `board:${actor.userId}` : `agent:${actor.agentId}`;
}

export function actorMetadata(actor: Actor, extra: EventMetadata = {}): EventMetadata {
  return {
    actor: actor.kind === 'board' ? { type: 'board', id: actor.userId } : { type: 'agent', id: actor.agentId },
    schemaVersion: 1,
    ...extra,
  };
}

export function canAccessCompany(actor: Actor, companyId: string): boolean {
  if (actor.kind === 'agent') return actor.companyId === companyId;
  return actor.instanceAdmin || actor.companyIds.includes(companyId);
}
