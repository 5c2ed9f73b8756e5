import { describe, it } from 'vitest';
import { accessTokenDecider } from '../../src/domain/access-token.js';
import { spec } from '../support/decider-spec.js';

const now = '2026-11-30T10:00:00.000Z';
const agentIssued = {
  type: 'AgentKeyIssued' as const,
  data: { tokenId: 't1', tokenHash: 'h', agentId: 'bot', companyId: 'c1', issuedBy: 'board:u', issuedAt: now },
};
const revoked = { type: 'AccessTokenRevoked' as const, data: { tokenId: 't1', revokedBy: 'board:u', revokedAt: now } };

describe('access token decider', () => {
  const token = spec(accessTokenDecider);
  it('revokes within its kind and company only', () => {
    token
      .given([agentIssued])
      .when({ type: 'RevokeToken', tokenId: 't1', kind: 'agent', companyId: 'c1', revokedBy: 'board:u', now })
      .then([revoked]);
    token
      .given([agentIssued])
      .when({ type: 'RevokeToken', tokenId: 't1', kind: 'board', revokedBy: 'board:u', now })
      .thenThrows('not_found');
    token
      .given([agentIssued])
      .when({ type: 'RevokeToken', tokenId: 't1', kind: 'agent', companyId: 'c2', revokedBy: 'board:u', now })
      .thenThrows('not_found');
    token
      .given([agentIssued])
      .when({ type: 'RevokeToken', tokenId: 't1', revokedBy: 'cli', now })
      .then([{ ...revoked, data: { ...revoked.data, revokedBy: 'cli' } }]);
  });
  it('revoking twice records nothing new; an unknown token is not found', () => {
    token.given([agentIssued, revoked]).when({ type: 'RevokeToken', tokenId: 't1', kind: 'agent', revokedBy: 'board:u', now }).then([]);
    token.given([]).when({ type: 'RevokeToken', tokenId: 't1', revokedBy: 'board:u', now }).thenThrows('not_found');
  });
  it('never issues twice under one id', () => {
    token
      .given([agentIssued])
      .when({ type: 'IssueAgentKey', tokenId: 't1', tokenHash: 'h2', agentId: 'x', companyId: 'c1', issuedBy: 'u', now })
      .thenThrows('conflict');
  });
});
