import { get } from './api.js';
import { badge, h, render, table } from './dom.js';
import { short, when } from './format.js';
import { pager } from './pager.js';

const PAGE = 50;

export async function sequencesView(main, ctx) {
  const list = h('div', { 'aria-live': 'polite' });
  render(main, h('h2', {}, 'Sequences'), list);
  await pager(
    list,
    (cursor) => get(`${ctx.base}/sequences?${pageQuery(cursor)}`),
    (items) =>
      items.length
        ? table(
            ['Sequence', 'Status', 'Version', 'Steps', 'Updated'],
            items.map((s) => [
              h('a', { href: `#/sequences/${s.id}` }, s.name),
              badge(s.status),
              String(s.version),
              String(s.steps.length),
              when(s.updatedAt),
            ]),
          )
        : h('p', { class: 'note' }, 'No sequences yet.'),
  );
}

const pageQuery = (cursor) => new URLSearchParams({ limit: String(PAGE), ...(cursor ? { cursor } : {}) });

/** One sequence: its steps, its stats, and its enrollments. */
export async function sequenceView(main, ctx, sequenceId) {
  const [sequence, stats] = await Promise.all([
    get(`${ctx.base}/sequences/${sequenceId}`),
    get(`${ctx.base}/sequences/${sequenceId}/stats`),
  ]);
  const enrollments = h('div', { 'aria-live': 'polite' });
  const numbers = [
    ['Enrolled', stats.enrolled],
    ['Active', stats.active],
    ['Completed', stats.completed],
    ...Object.entries(stats.stopped ?? {}).map(([reason, n]) => [`Stopped (${reason})`, n]),
  ];
  const perStep = stats.steps ?? [];
  render(
    main,
    h('p', {}, h('a', { href: '#/sequences' }, '← Sequences')),
    h('h2', {}, sequence.name),
    h('p', {}, badge(sequence.status), ` version ${sequence.version}`),
    h('h3', {}, 'Steps'),
    table(
      ['#', 'Channel', 'Wait before', 'Content'],
      sequence.steps.map((s, i) => [
        String(i + 1),
        String(s.channel ?? ''),
        String(s.waitBefore ?? ''),
        String(s.payload?.subject ?? s.payload?.text ?? JSON.stringify(s.payload ?? {})),
      ]),
    ),
    h('h3', {}, 'Stats'),
    h(
      'dl',
      {},
      numbers.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]),
    ),
    perStep.length
      ? table(
          ['Step', 'Sent', 'Pending approval', 'Blocked', 'Failed', 'Replied'],
          perStep.map((s) => [s.index + 1, s.sent, s.pendingApproval, s.blocked, s.failed, s.replied].map(String)),
        )
      : null,
    h('h3', {}, 'Enrollments'),
    enrollments,
  );
  await pager(
    enrollments,
    (cursor) => get(`${ctx.base}/sequences/${sequenceId}/enrollments?${pageQuery(cursor)}`),
    (items) =>
      items.length
        ? table(
            ['Enrollment', 'Recipient', 'Status', 'Step', 'Next due', 'Stop reason'],
            items.map((e) => [short(e.id), e.to, badge(e.status), String(e.currentStep + 1), when(e.nextDueAt), e.stopReason ?? '']),
          )
        : h('p', { class: 'note' }, 'No enrollments.'),
  );
}
