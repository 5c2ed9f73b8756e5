import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queryable } from './sql/db.js';

/** What the gauges read when scraped: the read models and the projection engine, as they are at that moment. */
export interface MetricsSources {
  db: Queryable;
  projections(): Promise<{ name: string; lagEvents: number; lagMs: number }[]>;
  now(): Date;
}

/** The most credential buckets one scrape reports (the fullest first): the label set stays bounded. */
const MAX_BUCKETS = 200;

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's Prometheus metrics, in a registry of its own (one per runtime: tests run several in one
 * process). Counters and histograms are recorded as things happen; the gauges of state (quota use, projection
 * lag, due steps) are read from the read models when scraped, so they are never stale and cost nothing between.
 * Labels are route templates, channels, statuses and ids of credentials and projections: bounded sets, never a
 * recipient or a raw path.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly sends: Counter<'channel' | 'status'>;
  readonly settlements: Counter;
  readonly appendDuration: Histogram;
  readonly stepLag: Histogram;

  constructor(sources?: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'crm_process_' });
    this.httpRequests = new Counter({
      name: 'crm_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'crm_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: SECONDS,
      registers,
    });
    this.sends = new Counter({
      name: 'crm_sends_total',
      help: 'Sends decided (manual, approved, resent, sequence steps), by channel and the status they ended in',
      labelNames: ['channel', 'status'],
      registers,
    });
    this.settlements = new Counter({
      name: 'crm_reconciler_settlements_total',
      help: 'Dispatches the reconciler settled as interrupted (their process died or lost its lease)',
      registers,
    });
    this.appendDuration = new Histogram({
      name: 'crm_eventstore_append_duration_seconds',
      help: 'Time an append to the event store took, as its caller waited (group commit included)',
      buckets: SECONDS,
      registers,
    });
    this.stepLag = new Histogram({
      name: 'crm_sequence_step_lag_seconds',
      help: 'How long after it came due a sequence step was sent',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    if (!sources) return;
    const quota = (name: string, help: string, pick: (r: BucketRow) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['company', 'credential', 'day'],
        registers,
        async collect() {
          this.reset();
          for (const r of await todaysBuckets(sources))
            this.set({ company: r.company_id, credential: r.credential_id, day: r.day }, pick(r));
        },
      });
    quota('crm_quota_used', "Units used of a credential's daily quota, for the buckets of the last day", (r) => r.used);
    quota('crm_quota_cap', "A credential's daily cap, for the buckets of the last day", (r) => r.cap);
    const lag = (name: string, help: string, pick: (p: { lagEvents: number; lagMs: number }) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['projection'],
        registers,
        async collect() {
          this.reset();
          for (const p of await sources.projections()) this.set({ projection: p.name }, pick(p));
        },
      });
    lag('crm_projection_lag_events', 'Events in the log a read model has not applied yet', (p) => p.lagEvents);
    lag('crm_projection_lag_seconds', 'Age of the oldest event a read model has not applied yet', (p) => p.lagMs / 1000);
    new Gauge({
      name: 'crm_sequence_steps_due',
      help: 'Sequence steps due now and not yet sent (running enrollments of running sequences)',
      registers,
      async collect() {
        const { rows } = await sources.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM crm_enrollments e JOIN crm_sequences s ON s.id = e.sequence_id
            WHERE e.status = 'active' AND e.next_due_at <= $1 AND s.status = 'active'`,
          [sources.now()],
        );
        this.set(rows[0]?.n ?? 0);
      },
    });
  }

  /** The text a scrape gets. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

interface BucketRow {
  company_id: string;
  credential_id: string;
  day: string;
  cap: number;
  used: number;
}

/** Buckets are per local day of their outbox: those written in the last day are "today" somewhere. */
async function todaysBuckets(sources: MetricsSources): Promise<BucketRow[]> {
  const { rows } = await sources.db.query<BucketRow>(
    `SELECT company_id, credential_id, day, cap, used FROM crm_credential_buckets WHERE updated_at >= $1 ORDER BY used DESC LIMIT $2`,
    [new Date(sources.now().getTime() - 24 * 3600_000), MAX_BUCKETS],
  );
  return rows;
}
