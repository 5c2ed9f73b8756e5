import { get } from './api.js';
import { h, render, table } from './dom.js';
import { short } from './format.js';

/** The secret id in a reference `secret://<id>:<version>`: the credential whose quota the outbox draws on. */
const credentialOf = (ref) => (/^secret:\/\/([0-9a-f-]{36})/i.exec(ref ?? '') ?? [])[1]?.toLowerCase() ?? null;

/** Each outbox with its credential's use today (in the outboxes' time zone) against the cap they share. */
export async function outboxesView(main, ctx) {
  const [{ items: outboxes }, { items: buckets }] = await Promise.all([get(`${ctx.base}/outboxes`), get(`${ctx.base}/credential-buckets`)]);
  const rows = outboxes.map((o) => {
    const credential = credentialOf(o.secretRef);
    const bucket = buckets.find((b) => b.credential === credential);
    const used = bucket?.used ?? 0;
    const cap = bucket?.cap ?? o.dailyCap;
    const pct = cap > 0 ? Math.min(100, Math.round((used / cap) * 100)) : 0;
    return [
      short(o.id),
      o.channel,
      o.niche ?? '—',
      o.timezone,
      credential ? short(credential) : '—',
      h(
        'span',
        {},
        h(
          'span',
          { class: 'meter', role: 'img', 'aria-label': `${used} of ${cap} used today` },
          h('span', { style: null, dataset: { pct } }),
        ),
        ` ${used} / ${cap} today`,
      ),
      limitsCell(bucket?.limits ?? []),
    ];
  });
  render(
    main,
    h('h2', {}, 'Outboxes and quota'),
    h('p', { class: 'note' }, 'Outboxes that share a credential share its cap (the smallest of theirs).'),
    outboxes.length
      ? table(['Outbox', 'Channel', 'Niche', 'Time zone', 'Credential', 'Used today', 'Other limits'], rows)
      : h('p', { class: 'note' }, 'No outboxes yet.'),
  );
  // Widths set through the CSSOM: the page's CSP allows no inline style attributes.
  for (const bar of main.querySelectorAll('.meter > span')) bar.style.width = `${bar.dataset.pct}%`;
}

/** The credential's limits beyond the day cap, as used now; a full one says when it reopens. */
function limitsCell(limits) {
  if (limits.length === 0) return '—';
  return h(
    'ul',
    { class: 'plain' },
    ...limits.map((l) =>
      h(
        'li',
        {},
        `${l.used} / ${l.max} ${l.unit === 'recipients' ? 'recipients' : 'sends'} per ${l.per}`,
        l.retryAt ? ` (full until ${new Date(l.retryAt).toLocaleString()})` : '',
      ),
    ),
  );
}
