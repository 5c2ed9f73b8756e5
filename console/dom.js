// Elements are built with textContent only: nothing the API returns is ever parsed as HTML.

/** `h('button', { class: 'primary', onclick }, 'Approve')`: attributes, `on*` listeners, and children (text or nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table; on a narrow screen each row stacks, its cells labelled by their column (`data-label`). */
export function table(head, rows, { caption } = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'stack' },
      caption ? h('caption', { class: 'note' }, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((cells) =>
          h(
            'tr',
            {},
            cells.map((c, i) => h('td', { 'data-label': head[i] || null }, c)),
          ),
        ),
      ),
    ),
  );
}

export const badge = (text) => h('span', { class: `badge ${String(text)}` }, String(text));
