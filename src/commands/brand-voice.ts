import { createHash } from 'node:crypto';
import { CheckerFailedError, type BrandVoiceChecker, type Finding } from '../brand-voice/checker.js';
import { type BrandVoiceGuide, brandVoiceGuideDecider, brandVoiceGuideStream } from '../domain/brand-voice-guide.js';
import { DomainError } from '../domain/decider.js';
import { type EventStore, type Position, WrongExpectedRevisionError } from '../eventstore/port.js';
import type { ProjectionEngine } from '../projections/engine.js';
import { findCachedVerdict } from '../projections/brand-voice-cache.js';
import type { Queryable } from '../sql/db.js';
import { type Actor, actorMetadata } from './actor.js';
import { commandHandlerFor } from './command-handler.js';
import { loadAggregate } from './handle-command.js';

const brandVoiceGuide = commandHandlerFor(brandVoiceGuideDecider, brandVoiceGuideStream);

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export interface CheckResult {
  pass: boolean;
  score: number;
  findings: Finding[];
  cached: boolean;
  /** The checker could not give a verdict (an LLM error or timeout): pass is false and nothing is cached. */
  failed: boolean;
  guideVersion: number;
}

export const brandVoiceCheckStream = (companyId: string, contentSha256: string, guideVersion: number, channel: string | null) =>
  `crm_brand_voice_check-${companyId}.${contentSha256}.${guideVersion}.${channel ?? '_'}`;

export async function setBrandVoiceGuide(store: EventStore, companyId: string, guide: BrandVoiceGuide, actor: Actor, now: Date) {
  const r = await brandVoiceGuide(store, companyId, { actor, now }, (s) => ({
    type: 'SetBrandVoiceGuide',
    companyId,
    guide,
    actor: s.by,
    now: s.now,
  }));
  return { version: r.state.version, guide: r.state.guide, updatedAt: r.state.updatedAt, position: r.position };
}

export async function getBrandVoiceGuide(store: EventStore, companyId: string) {
  const { state } = await loadAggregate(store, brandVoiceGuideStream(companyId), brandVoiceGuideDecider);
  return state;
}

/**
 * The cached brand-voice check. A verdict is cached per (company, content hash, guide version, channel): a
 * new guide version misses. Concurrent identical checks in this process share one run of the checker.
 */
export class BrandVoiceService {
  private readonly inFlight = new Map<string, Promise<CheckResult>>();

  constructor(
    private readonly deps: { store: EventStore; db: Queryable; engine: ProjectionEngine; checker: BrandVoiceChecker; now: () => Date },
  ) {}

  async check(
    companyId: string,
    input: { contentSha256: string; draft: string; channel: string | null },
    actor: Actor,
  ): Promise<CheckResult> {
    // The hash is the cache key: a draft that does not match it would poison the cache for the real content.
    if (sha256Hex(input.draft) !== input.contentSha256) throw new DomainError('invalid_input', 'contentSha256 is not the SHA-256 of draft');
    const guide = await getBrandVoiceGuide(this.deps.store, companyId);
    const key = brandVoiceCheckStream(companyId, input.contentSha256, guide.version, input.channel);
    const cached = await findCachedVerdict(this.deps.db, companyId, input.contentSha256, guide.version, input.channel);
    if (cached) return { ...cached, cached: true, failed: false, guideVersion: guide.version };
    const running = this.inFlight.get(key);
    if (running) return { ...(await running), cached: true };
    const run = this.run(key, companyId, input, guide.version, guide.guide, actor).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, run);
    return run;
  }

  private async run(
    streamName: string,
    companyId: string,
    input: { contentSha256: string; draft: string; channel: string | null },
    guideVersion: number,
    guide: BrandVoiceGuide,
    actor: Actor,
  ): Promise<CheckResult> {
    let verdict;
    try {
      verdict = await this.deps.checker.check({ draft: input.draft, guide, channel: input.channel });
    } catch (err) {
      if (!(err instanceof CheckerFailedError)) throw err;
      return {
        pass: false,
        score: 0,
        findings: [{ rule: 'checker_failed', message: err.message, start: 0, end: 0 }],
        cached: false,
        failed: true,
        guideVersion,
      };
    }
    let position: Position | null = null;
    try {
      const r = await this.deps.store.append(
        streamName,
        [
          {
            type: 'BrandVoiceChecked',
            data: {
              companyId,
              contentSha256: input.contentSha256,
              guideVersion,
              channel: input.channel,
              verdict,
              checker: this.deps.checker.name,
              checkedAt: this.deps.now().toISOString(),
            },
            metadata: actorMetadata(actor),
          },
        ],
        'no_stream',
      );
      position = r.position;
    } catch (err) {
      // Another process cached the same check first: its verdict stands as well as ours.
      if (!(err instanceof WrongExpectedRevisionError)) throw err;
    }
    // Until the cache table has it, later callers still join this run rather than check again.
    if (position) await this.deps.engine.waitFor(position, { timeoutMs: 5000 });
    return { ...verdict, cached: false, failed: false, guideVersion };
  }
}
