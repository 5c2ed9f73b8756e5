import { h } from './dom.js';
import { ApiError } from './api.js';

/** An error as the API worded it: its status, its message, and the list of details (a 400's issues, a 409's list). */
export function errorBox(err) {
  const status = err instanceof ApiError && err.status ? `${err.status}: ` : '';
  const details = err instanceof ApiError && err.details !== undefined ? detailItems(err.details) : [];
  return h(
    'div',
    { class: 'error', role: 'alert' },
    `${status}${err.message}`,
    details.length
      ? h(
          'ul',
          {},
          details.map((d) => h('li', {}, d)),
        )
      : null,
  );
}

function detailItems(details) {
  if (Array.isArray(details))
    return details.map((d) =>
      typeof d === 'string' ? d : d && d.message ? `${d.path ? `${[].concat(d.path).join('.')}: ` : ''}${d.message}` : JSON.stringify(d),
    );
  if (details && typeof details === 'object')
    return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [String(details)];
}

export function age(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

export const short = (id) => (id ? String(id).slice(0, 8) : '');

/** A message payload made readable: subject and text of an email, the text of a chat message, else its JSON. */
export function payloadView(payload) {
  if (!payload || typeof payload !== 'object') return h('span', { class: 'note' }, '(no payload)');
  const parts = [];
  if (payload.subject) parts.push(h('div', {}, h('strong', {}, 'Subject: '), String(payload.subject)));
  const text = payload.text ?? payload.body ?? payload.message;
  if (typeof text === 'string') parts.push(h('div', { class: 'payload' }, text));
  if (parts.length) return h('div', {}, parts);
  return h('pre', { class: 'payload' }, JSON.stringify(payload, null, 2));
}

export function predicateText(p) {
  if (!p || p.any) return 'any send';
  const parts = [];
  if (p.channel) parts.push(`channel ${p.channel}`);
  if (p.niche) parts.push(`niche ${p.niche}`);
  if (p.tags && p.tags.length) parts.push(`tags ${p.tags.join(', ')}`);
  if (p.timeOfDay) parts.push(`${p.timeOfDay.start}–${p.timeOfDay.end} ${p.timeOfDay.tz}`);
  return parts.join('; ') || 'any send';
}
