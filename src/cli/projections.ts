import { SingleBar } from 'cli-progress';
import { outputTable } from './table.js';
import type { ProjectionStatus } from '../projections/engine.js';
import type { RebuildJob } from '../projections/rebuild-jobs.js';
import type { RebuildProgress } from '../projections/rebuild.js';
import type { ServerApi } from './server-api.js';

/** Where the projections are reached: this process's own runtime, or the running server's admin API. */
export interface ProjectionsAccess {
  status(): Promise<ProjectionStatus[]>;
  /** The log's length, for a progress bar's total; null when it cannot be told cheaply. */
  totalEvents(): Promise<number | null>;
  rebuild(name: string, onProgress: (p: RebuildProgress) => void): Promise<void>;
}

export function viaServer(api: ServerApi, pollMs = 250): ProjectionsAccess {
  return {
    status: async () => (await api.get<{ items: ProjectionStatus[] }>('/api/admin/projections')).items,
    totalEvents: async () => null,
    async rebuild(name, onProgress) {
      const started = await api.post<RebuildJob>(`/api/admin/projections/${encodeURIComponent(name)}/rebuild`);
      const location = started.location ?? `/api/admin/projections/rebuilds/${started.body.id}`;
      for (;;) {
        const job = await api.get<RebuildJob>(location);
        onProgress(job);
        if (job.status === 'done') return;
        if (job.status === 'failed') throw new Error(`rebuild of ${name} failed: ${job.error ?? 'no detail'}`);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
  };
}

export function statusTable(items: ProjectionStatus[]): string {
  const table = outputTable(['projection', 'checkpoint', 'applied', 'lag (events)', 'lag (s)', 'leader', 'state']);
  for (const p of items) {
    const state = p.rebuilding
      ? `rebuilding (${p.rebuilding.phase})`
      : p.lastError
        ? `failing: ${p.lastError}`
        : p.caughtUp
          ? 'caught up'
          : 'behind';
    table.push([p.name, p.checkpoint, p.eventsApplied, p.lagEvents, (p.lagMs / 1000).toFixed(1), p.leader ? 'yes' : 'no', state]);
  }
  return table.toString();
}

/**
 * Rebuilds each named projection in turn. On a terminal a progress bar (events/s, ETA); elsewhere a plain line
 * per second, so a log or CI keeps a readable record.
 */
export async function rebuildWithProgress(
  access: ProjectionsAccess,
  names: string[],
  out: { isTTY: boolean; write(s: string): void },
): Promise<string> {
  const total = await access.totalEvents();
  const lines: string[] = [];
  for (const name of names) {
    const started = performance.now();
    const rate = (read: number) => Math.round(read / Math.max(0.001, (performance.now() - started) / 1000));
    let last: RebuildProgress | null = null;
    if (out.isTTY) {
      const bar = new SingleBar(
        {
          format: `${name} [{bar}] {value}/{total} events | {rate} ev/s | ETA {eta_formatted} | {phase}`,
          stream: process.stderr,
          hideCursor: true,
        },
        undefined,
      );
      bar.start(total ?? 0, 0, { rate: 0, phase: 'building' });
      try {
        await access.rebuild(name, (p) => {
          last = p;
          if (p.eventsRead > bar.getTotal()) bar.setTotal(p.eventsRead);
          bar.update(p.eventsRead, { rate: rate(p.eventsRead), phase: p.phase });
        });
      } finally {
        bar.stop();
      }
    } else {
      let lastLine = 0;
      await access.rebuild(name, (p) => {
        last = p;
        if (performance.now() - lastLine < 1000 && p.phase === 'building') return;
        lastLine = performance.now();
        out.write(`${name}: ${p.phase}, ${p.eventsRead}${total ? `/${total}` : ''} events read, ${rate(p.eventsRead)} ev/s\n`);
      });
    }
    const done = last as RebuildProgress | null;
    lines.push(
      `rebuilt ${name}: ${done?.eventsApplied ?? 0} events applied of ${done?.eventsRead ?? 0} read in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  return lines.join('\n');
}
