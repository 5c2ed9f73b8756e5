import type { Finding, Verdict } from '../brand-voice/checker.js';
import type { DomainEvent } from '../domain/decider.js';
import type { Queryable } from '../sql/db.js';
import { defineProjection } from './projection.js';

// The command side (src/commands/brand-voice.ts) writes it; no aggregate folds it, so it is declared here.
export type BrandVoiceCheckedEvent = DomainEvent<'BrandVoiceChecked', BrandVoiceCheckedData>;

type BrandVoiceCheckedData = {
  companyId: string;
  contentSha256: string;
  guideVersion: number;
  channel: string | null;
  verdict: Verdict;
  checker: string;
  checkedAt: string;
};

export const brandVoiceCacheProjection = defineProjection<BrandVoiceCheckedEvent>()({
  name: 'brand_voice_cache',
  tables: ['crm_brand_voice_cache'],
  on: {
    BrandVoiceChecked: ({ data: d }, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_brand_voice_cache')} (company_id, content_sha256, guide_version, channel, pass, score, findings, checker, checked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [
          d.companyId,
          d.contentSha256,
          d.guideVersion,
          d.channel ?? '',
          d.verdict.pass,
          d.verdict.score,
          JSON.stringify(d.verdict.findings),
          d.checker,
          d.checkedAt,
        ],
      ),
  },
});

export async function findCachedVerdict(
  q: Queryable,
  companyId: string,
  contentSha256: string,
  guideVersion: number,
  channel: string | null,
): Promise<Verdict | null> {
  const { rows } = await q.query<{ pass: boolean; score: number; findings: Finding[] }>(
    `SELECT pass, score, findings FROM crm_brand_voice_cache WHERE company_id = $1 AND content_sha256 = $2 AND guide_version = $3 AND channel = $4`,
    [companyId, contentSha256, guideVersion, channel ?? ''],
  );
  const r = rows[0];
  return r ? { pass: r.pass, score: Math.round(Number(r.score) * 100) / 100, findings: r.findings } : null;
}
