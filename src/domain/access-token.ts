import { type Decider, type DomainEvent, DomainError } from './decider.js';

/** Board tokens (people) and agent keys (one agent of one company): one stream per token. */
export const accessTokenStream = (tokenId: string) => `crm_access_token-${tokenId}`;

export type AccessTokenCommand =
  | {
      type: 'IssueBoardToken';
      tokenId: string;
      tokenHash: string;
      userId: string;
      instanceAdmin: boolean;
      companyIds: string[];
      expiresAt: string | null;
      issuedBy: string;
      now: string;
    }
  | { type: 'IssueAgentKey'; tokenId: string; tokenHash: string; agentId: string; companyId: string; issuedBy: string; now: string }
  /** `kind` and `companyId`, when given, scope the revocation: a key of another kind or company is "not found". */
  | { type: 'RevokeToken'; tokenId: string; kind?: 'board' | 'agent'; companyId?: string; revokedBy: string; now: string };

export type AccessTokenEvent =
  | DomainEvent<
      'BoardTokenIssued',
      {
        tokenId: string;
        tokenHash: string;
        userId: string;
        instanceAdmin: boolean;
        companyIds: string[];
        expiresAt: string | null;
        issuedBy: string;
        issuedAt: string;
      }
    >
  | DomainEvent<
      'AgentKeyIssued',
      { tokenId: string; tokenHash: string; agentId: string; companyId: string; issuedBy: string; issuedAt: string }
    >
  | DomainEvent<'AccessTokenRevoked', { tokenId: string; revokedBy: string; revokedAt: string }>;

export type AccessTokenState = { status: 'none' } | { status: 'active' | 'revoked'; kind: 'board' | 'agent'; companyId: string | null };

export const accessTokenDecider: Decider<AccessTokenCommand, AccessTokenState, AccessTokenEvent> = {
  initialState: () => ({ status: 'none' }),

  evolve(state, event) {
    switch (event.type) {
      case 'BoardTokenIssued':
        return { status: 'active', kind: 'board', companyId: null };
      case 'AgentKeyIssued':
        return { status: 'active', kind: 'agent', companyId: event.data.companyId };
      case 'AccessTokenRevoked':
        return state.status === 'none' ? state : { ...state, status: 'revoked' };
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'IssueBoardToken': {
        if (state.status !== 'none') throw new DomainError('conflict', 'token id already used');
        const { type: _t, now, ...data } = command;
        return [{ type: 'BoardTokenIssued', data: { ...data, issuedAt: now } }];
      }
      case 'IssueAgentKey': {
        if (state.status !== 'none') throw new DomainError('conflict', 'token id already used');
        const { type: _t, now, ...data } = command;
        return [{ type: 'AgentKeyIssued', data: { ...data, issuedAt: now } }];
      }
      case 'RevokeToken': {
        const visible =
          state.status !== 'none' &&
          (command.kind === undefined || command.kind === state.kind) &&
          (command.companyId === undefined || command.companyId === state.companyId);
        if (!visible) throw new DomainError('not_found', 'token not found');
        if (state.status === 'revoked') return []; // revoking twice is harmless
        return [{ type: 'AccessTokenRevoked', data: { tokenId: command.tokenId, revokedBy: command.revokedBy, revokedAt: command.now } }];
      }
    }
  },
};
