import { get } from './api.js';
import { badge, h, render, table } from './dom.js';
import { CHANNELS, STATUSES } from './enums.js';
import { short, when } from './format.js';
import { pager } from './pager.js';

/** Activities (one per send), filtered by status, channel, outbox and time, newest pages on. */
export async function activitiesView(main, ctx) {
  const outboxes = await get(`${ctx.base}/outboxes`).then(
    (r) => r.items,
    () => [],
  );
  const results = h('div', { 'aria-live': 'polite' });
  const select = (name, label, values) =>
    h(
      'label',
      { for: `f-${name}` },
      label,
      h(
        'select',
        { id: `f-${name}`, name },
        h('option', { value: '' }, 'any'),
        values.map(([v, t]) => h('option', { value: v }, t)),
      ),
    );
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: (e) => {
        e.preventDefault();
        search();
      },
    },
    select(
      'status',
      'Status',
      STATUSES.map((s) => [s, s]),
    ),
    select(
      'channel',
      'Channel',
      CHANNELS.map((c) => [c, c]),
    ),
    select(
      'outboxId',
      'Outbox',
      outboxes.map((o) => [o.id, `${o.channel}${o.niche ? ` · ${o.niche}` : ''} (${short(o.id)})`]),
    ),
    h('label', { for: 'f-since' }, 'Since', h('input', { id: 'f-since', name: 'since', type: 'datetime-local' })),
    h('label', { for: 'f-until' }, 'Until', h('input', { id: 'f-until', name: 'until', type: 'datetime-local' })),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
  );
  const search = () =>
    pager(
      results,
      (cursor) => {
        const q = new URLSearchParams({ limit: '50' });
        for (const name of ['status', 'channel', 'outboxId']) if (form.elements[name].value) q.set(name, form.elements[name].value);
        for (const name of ['since', 'until'])
          if (form.elements[name].value) q.set(name, new Date(form.elements[name].value).toISOString());
        if (cursor) q.set('cursor', cursor);
        return get(`${ctx.base}/activities?${q}`);
      },
      (items) =>
        items.length
          ? table(
              ['Activity', 'Status', 'Channel', 'Recipient', 'Reason', 'Created'],
              items.map((a) => [
                h('a', { href: `#/activities/${a.id}` }, short(a.id)),
                badge(a.status),
                a.channel,
                a.to,
                a.reason ?? (a.error ? `${a.error.code}` : ''),
                h('time', { datetime: a.createdAt }, when(a.createdAt)),
              ]),
            )
          : h('p', { class: 'note' }, 'No activity matches.'),
    );
  render(main, h('h2', {}, 'Activities'), form, results);
  await search();
}

/** One activity: its state, and its timeline (every decision from its history, then what the provider reported). */
export async function activityView(main, ctx, activityId) {
  const [activity, history] = await Promise.all([
    get(`${ctx.base}/activities/${activityId}`),
    get(`${ctx.base}/activities/${activityId}/history`),
  ]);
  const entries = [
    ...history.events.map((e) => ({
      at: e.recordedAt,
      title: e.type,
      who: e.actor ? `${e.actor.type}:${e.actor.id}` : null,
      detail: detailOf(e),
    })),
    ...activity.deliveryEvents.map((d) => ({
      at: d.at,
      title: d.type === 'reply' ? 'Reply received' : `Delivery: ${d.state ?? 'reported'}`,
      who: 'provider',
      detail: d.text ?? (d.error ? JSON.stringify(d.error) : `provider event ${d.providerEventId}`),
    })),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  render(
    main,
    h('p', {}, h('a', { href: '#/activities' }, '← Activities')),
    h('h2', {}, `Activity ${short(activity.id)}`),
    h(
      'dl',
      {},
      [
        ['Status', badge(activity.status)],
        ['Delivery', activity.deliveryStatus ?? '—'],
        ['Channel', activity.channel],
        ['Recipient', activity.to],
        ['Outbox', activity.outboxId],
        ['Provider message id', activity.providerMessageId ?? '—'],
        ['Reason', activity.reason ?? (activity.error ? `${activity.error.code}: ${activity.error.message ?? ''}` : '—')],
      ].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h3', {}, 'Timeline'),
    h(
      'ol',
      { class: 'timeline', 'aria-label': 'Timeline' },
      entries.map((e) =>
        h(
          'li',
          {},
          h('div', {}, h('strong', {}, e.title), e.who ? ` · ${e.who}` : ''),
          h('div', { class: 'when' }, h('time', { datetime: e.at }, when(e.at))),
          e.detail ? h('div', { class: 'note' }, e.detail) : null,
        ),
      ),
    ),
  );
}

function detailOf(e) {
  const d = e.data ?? {};
  if (e.type === 'ActivityRequested') return `to ${d.to} via ${d.channel}${d.payload?.subject ? `: “${d.payload.subject}”` : ''}`;
  if (d.reason) return String(d.reason);
  if (d.error) return `${d.error.code ?? ''} ${d.error.message ?? ''}`.trim();
  if (d.by) return `by ${d.by}`;
  // A rule's approval recorded with the dispatch's start (one event since issue 19).
  if (e.type === 'ActivityDispatching' && d.approvedByRule) return `approved by rule ${short(d.approvedByRule)}; unit of ${d.day}`;
  if (d.providerMessageId) return `provider message ${d.providerMessageId}`;
  return null;
}
