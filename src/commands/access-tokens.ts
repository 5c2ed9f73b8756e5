import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { accessTokenDecider, accessTokenStream } from '../domain/access-token.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { Actor } from './actor.js';
import { commandHandlerFor } from './command-handler.js';

const accessToken = commandHandlerFor(accessTokenDecider, accessTokenStream);

export const BOARD_TOKEN = /^pcp_board_[0-9a-f]{48}$/;
export const AGENT_KEY = /^pcp_[0-9a-f]{48}$/;

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const newToken = (prefix: 'pcp_board_' | 'pcp_') => `${prefix}${randomBytes(24).toString('hex')}`;

export interface IssuedToken {
  id: string;
  /** Shown once; only its SHA-256 is stored. */
  token: string;
  expiresAt: string | null;
  position: Position | null;
}

export async function issueBoardToken(
  store: EventStore,
  input: { userId: string; instanceAdmin: boolean; companyIds: string[]; ttlDays: number },
  actor: Actor,
  now: Date,
): Promise<IssuedToken> {
  const tokenId = randomUUID();
  const token = newToken('pcp_board_');
  const expiresAt = input.ttlDays === 0 ? null : new Date(now.getTime() + input.ttlDays * 86_400_000).toISOString();
  const { userId, instanceAdmin } = input;
  const companyIds = [...new Set(input.companyIds)];
  const r = await accessToken(store, tokenId, { actor, now }, (s) => ({
    type: 'IssueBoardToken',
    ...{ tokenId, tokenHash: hashToken(token), userId, instanceAdmin, companyIds, expiresAt },
    issuedBy: s.by,
    now: s.now,
  }));
  return { id: tokenId, token, expiresAt, position: r.position };
}

export async function issueAgentKey(
  store: EventStore,
  input: { agentId: string; companyId: string },
  actor: Actor,
  now: Date,
): Promise<IssuedToken> {
  const tokenId = randomUUID();
  const token = newToken('pcp_');
  const r = await accessToken(store, tokenId, { actor, now }, (s) => ({
    type: 'IssueAgentKey',
    tokenId,
    tokenHash: hashToken(token),
    ...input,
    issuedBy: s.by,
    now: s.now,
  }));
  return { id: tokenId, token, expiresAt: null, position: r.position };
}

export async function revokeAccessToken(
  store: EventStore,
  input: { tokenId: string; kind?: 'board' | 'agent'; companyId?: string },
  actor: Actor,
  now: Date,
): Promise<Position | null> {
  return (await accessToken(store, input.tokenId, { actor, now }, (s) => ({ type: 'RevokeToken', ...input, revokedBy: s.by, now: s.now })))
    .position;
}
