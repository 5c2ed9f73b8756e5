import type { AccessTokenEvent } from '../domain/access-token.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

/** Read model of board tokens and agent keys: hashes only, never a token. */
export const accessTokensProjection = defineProjection<AccessTokenEvent>()({
  name: 'access_tokens',
  tables: ['crm_access_tokens'],
  on: {
    BoardTokenIssued: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_access_tokens')} (id, kind, token_hash, user_id, company_ids, instance_admin, expires_at, created_at, created_by)
         VALUES ($1, 'board', $2, $3, $4::uuid[], $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
        [d.tokenId, d.tokenHash, d.userId, d.companyIds, d.instanceAdmin, d.expiresAt, d.issuedAt, d.issuedBy],
      ),
    AgentKeyIssued: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_access_tokens')} (id, kind, token_hash, agent_id, company_ids, created_at, created_by)
         VALUES ($1, 'agent', $2, $3, ARRAY[$4::uuid], $5, $6) ON CONFLICT (id) DO NOTHING`,
        [d.tokenId, d.tokenHash, d.agentId, d.companyId, d.issuedAt, d.issuedBy],
      ),
    AccessTokenRevoked: ({ data: d }, { tx, table }) =>
      tx.query(`UPDATE ${table('crm_access_tokens')} SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, [d.tokenId, d.revokedAt]),
  },
});

export interface TokenRow {
  id: string;
  kind: 'board' | 'agent';
  user_id: string | null;
  agent_id: string | null;
  company_ids: string[];
  instance_admin: boolean;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
  created_by: string;
  last_used_at: Date | null;
}

const SELECT = `SELECT t.id, t.kind, t.user_id, t.agent_id, t.company_ids, t.instance_admin, t.expires_at, t.revoked_at,
                       t.created_at, t.created_by, u.last_used_at
                  FROM crm_access_tokens t LEFT JOIN crm_access_token_usage u ON u.token_id = t.id`;

export async function findTokenByHash(q: Queryable, hash: string): Promise<TokenRow | null> {
  const { rows } = await q.query<TokenRow>(`${SELECT} WHERE t.token_hash = $1`, [hash]);
  return rows[0] ?? null;
}

export async function listBoardTokens(q: Queryable): Promise<TokenRow[]> {
  return (await q.query<TokenRow>(`${SELECT} WHERE t.kind = 'board' ORDER BY t.created_at, t.id`)).rows;
}

export async function listAgentKeys(q: Queryable, companyId: string): Promise<TokenRow[]> {
  return (
    await q.query<TokenRow>(`${SELECT} WHERE t.kind = 'agent' AND t.company_ids = ARRAY[$1::uuid] ORDER BY t.created_at, t.id`, [companyId])
  ).rows;
}

export async function touchToken(q: Queryable, tokenId: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO crm_access_token_usage (token_id, last_used_at) VALUES ($1, $2)
     ON CONFLICT (token_id) DO UPDATE SET last_used_at = greatest(crm_access_token_usage.last_used_at, excluded.last_used_at)`,
    [tokenId, at],
  );
}

/** The public shape of a token in lists: no hash, no token. */
export function tokenView(r: TokenRow) {
  const base = {
    id: r.id,
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
  return r.kind === 'board'
    ? { ...base, userId: r.user_id, instanceAdmin: r.instance_admin, companyIds: r.company_ids, expiresAt: r.expires_at }
    : { ...base, agentId: r.agent_id, companyId: r.company_ids[0] };
}
