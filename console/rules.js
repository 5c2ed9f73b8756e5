import { del, get, patch, post } from './api.js';
import { badge, h, render, table } from './dom.js';
import { CHANNELS } from './enums.js';
import { errorBox, predicateText } from './format.js';

/** The approval rules in evaluation order (ascending priority, first match wins), editable, with a preview. */
export async function rulesView(main, ctx) {
  const message = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const preview = h('div');
  render(
    main,
    h('h2', {}, 'Approval rules'),
    h(
      'p',
      { class: 'note' },
      'Evaluated by ascending priority, ties oldest first; the first rule that matches decides. No match: queued for manual approval.',
    ),
    message,
    list,
    preview,
  );
  const refresh = async () => {
    const { items } = await get(`${ctx.base}/approval-rules`);
    renderList(list, items, ctx, message, refresh);
    renderPreview(preview, items, ctx);
  };
  await refresh();
}

function predicateFrom(form) {
  const p = {};
  const channel = form.elements.channel.value;
  const niche = form.elements.niche.value.trim();
  const tags = form.elements.tags.value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (channel) p.channel = channel;
  if (niche) p.niche = niche;
  if (tags.length) p.tags = tags;
  const start = form.elements.start.value;
  const end = form.elements.end.value;
  if (start || end) p.timeOfDay = { start, end, tz: form.elements.tz.value.trim() || 'UTC' };
  return Object.keys(p).length ? p : { any: true };
}

function ruleForm({ rule, submitText, onSubmit, idPrefix }) {
  const p = rule?.predicate ?? {};
  const field = (name, label, input) => h('label', { for: `${idPrefix}-${name}` }, label, input);
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (e) => {
        e.preventDefault();
        await onSubmit(form);
      },
    },
    field(
      'channel',
      'Channel',
      h(
        'select',
        { id: `${idPrefix}-channel`, name: 'channel' },
        h('option', { value: '' }, 'any'),
        CHANNELS.map((c) => h('option', { value: c, selected: p.channel === c }, c)),
      ),
    ),
    field('niche', 'Niche', h('input', { id: `${idPrefix}-niche`, name: 'niche', value: p.niche ?? '', size: 12 })),
    field(
      'tags',
      'Tags (comma-separated)',
      h('input', { id: `${idPrefix}-tags`, name: 'tags', value: (p.tags ?? []).join(', '), size: 16 }),
    ),
    field(
      'start',
      'From (HH:MM)',
      h('input', { id: `${idPrefix}-start`, name: 'start', value: p.timeOfDay?.start ?? '', size: 5, pattern: '\\d\\d:\\d\\d' }),
    ),
    field(
      'end',
      'Until (HH:MM)',
      h('input', { id: `${idPrefix}-end`, name: 'end', value: p.timeOfDay?.end ?? '', size: 5, pattern: '\\d\\d:\\d\\d' }),
    ),
    field('tz', 'Time zone', h('input', { id: `${idPrefix}-tz`, name: 'tz', value: p.timeOfDay?.tz ?? '', size: 12, placeholder: 'UTC' })),
    field(
      'action',
      'Action',
      h(
        'select',
        { id: `${idPrefix}-action`, name: 'action' },
        ['queue_for_manual', 'auto_approve'].map((a) => h('option', { value: a, selected: rule?.action === a }, a)),
      ),
    ),
    field(
      'priority',
      'Priority',
      h('input', { id: `${idPrefix}-priority`, name: 'priority', type: 'number', value: rule?.priority ?? 100, required: true }),
    ),
    h('button', { type: 'submit', class: 'primary' }, submitText),
  );
  return form;
}

const bodyFrom = (form) => ({
  predicate: predicateFrom(form),
  action: form.elements.action.value,
  priority: Number(form.elements.priority.value),
});

function renderList(list, items, ctx, message, refresh) {
  const act = async (fn, done) => {
    try {
      await fn();
      render(message, h('p', { class: 'note' }, done));
      await refresh();
    } catch (err) {
      render(message, errorBox(err));
    }
  };
  // Moving a rule swaps it with its neighbour: the rules keep the priorities of the places they now hold, and
  // where places share a priority the later ones go up by as little as makes the order strict (ties go oldest
  // first, so a rule given its neighbour's priority or one past it could land beside another rule of that
  // priority instead of where it was moved). Only the rules whose priority changes are written.
  const move = (i, dir) => {
    const order = [...items];
    [order[i], order[i + dir]] = [order[i + dir], order[i]];
    return act(async () => {
      let previous = -Infinity;
      for (const [k, r] of order.entries()) {
        const priority = Math.max(items[k].priority, previous + 1);
        if (priority !== r.priority) await patch(`${ctx.base}/approval-rules/${r.id}`, { priority });
        previous = priority;
      }
    }, 'Order changed.');
  };
  const rows = items.map((r, i) => {
    const edit = h('td', { colspan: 5 });
    const editRow = h('tr', { hidden: true }, edit);
    return {
      cells: [
        String(i + 1),
        predicateText(r.predicate),
        badge(r.action),
        String(r.priority),
        h(
          'div',
          { class: 'toolbar' },
          h('button', { type: 'button', disabled: i === 0, 'aria-label': `Move rule ${i + 1} up`, onclick: () => move(i, -1) }, '↑ Up'),
          h(
            'button',
            { type: 'button', disabled: i === items.length - 1, 'aria-label': `Move rule ${i + 1} down`, onclick: () => move(i, 1) },
            '↓ Down',
          ),
          h(
            'button',
            {
              type: 'button',
              'aria-label': `Edit rule ${i + 1}`,
              onclick: () => {
                editRow.hidden = !editRow.hidden;
                render(
                  edit,
                  ruleForm({
                    rule: r,
                    idPrefix: `edit-${r.id}`,
                    submitText: 'Save',
                    onSubmit: (form) => act(() => patch(`${ctx.base}/approval-rules/${r.id}`, bodyFrom(form)), 'Rule saved.'),
                  }),
                );
              },
            },
            'Edit',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': `Delete rule ${i + 1}`,
              onclick: () => {
                if (confirm(`Delete rule ${i + 1} (${predicateText(r.predicate)})?`))
                  act(() => del(`${ctx.base}/approval-rules/${r.id}`), 'Rule deleted.');
              },
            },
            'Delete',
          ),
        ),
      ],
      editRow,
    };
  });
  const t = table(
    ['#', 'When the send is', 'Action', 'Priority', ''],
    rows.map((r) => r.cells),
  );
  const tbody = t.querySelector('tbody');
  [...tbody.children].forEach((tr, i) => tr.after(rows[i].editRow));
  render(
    list,
    items.length ? t : h('p', { class: 'note' }, 'No rules: every send is queued for manual approval.'),
    h('h3', {}, 'New rule'),
    ruleForm({
      idPrefix: 'new',
      submitText: 'Add rule',
      onSubmit: (form) => act(() => post(`${ctx.base}/approval-rules`, bodyFrom(form)), 'Rule added.'),
    }),
  );
}

/** Which rule a send would meet, asked of the API rule by rule in evaluation order (the first match decides). */
function renderPreview(box, items, ctx) {
  const result = h('div', { 'aria-live': 'polite', id: 'preview-result' });
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (e) => {
        e.preventDefault();
        const at = form.elements.at.value ? new Date(form.elements.at.value).toISOString() : undefined;
        const body = {
          channel: form.elements.channel.value,
          niche: form.elements.niche.value.trim() || null,
          tags: form.elements.tags.value
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
          ...(at ? { at } : {}),
        };
        try {
          for (const [i, rule] of items.entries()) {
            const r = await post(`${ctx.base}/approval-rules/${rule.id}/preview`, body);
            if (r.matches) {
              render(result, h('p', {}, `Rule ${i + 1} matches (${predicateText(rule.predicate)}): `, badge(r.action)));
              return;
            }
          }
          render(result, h('p', {}, 'No rule matches: ', badge('queue_for_manual'), ' (the default).'));
        } catch (err) {
          render(result, errorBox(err));
        }
      },
    },
    h(
      'label',
      { for: 'pv-channel' },
      'Channel',
      h(
        'select',
        { id: 'pv-channel', name: 'channel' },
        CHANNELS.map((c) => h('option', { value: c }, c)),
      ),
    ),
    h('label', { for: 'pv-niche' }, 'Niche', h('input', { id: 'pv-niche', name: 'niche', size: 12 })),
    h('label', { for: 'pv-tags' }, 'Tags', h('input', { id: 'pv-tags', name: 'tags', size: 16 })),
    h('label', { for: 'pv-at' }, 'Time', h('input', { id: 'pv-at', name: 'at', type: 'datetime-local' })),
    h('button', { type: 'submit' }, 'Preview'),
  );
  render(
    box,
    h('h3', {}, 'Preview'),
    h('p', { class: 'note' }, 'Which rule would decide a send like this, and what it would do.'),
    form,
    result,
  );
}
