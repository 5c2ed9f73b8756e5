import { h, render } from './dom.js';
import { errorBox } from './format.js';

/**
 * A list the API gives a page at a time: `load(cursor)` answers `{ items, nextCursor }` (cursor null: the first
 * page), `show(items)` draws one page into `container`, and "Next page" follows the cursor while there is one.
 * A refusal is shown in place, in the API's words.
 */
export async function pager(container, load, show) {
  const go = async (cursor) => {
    try {
      const page = await load(cursor);
      render(
        container,
        show(page.items),
        page.nextCursor ? h('button', { type: 'button', onclick: () => go(page.nextCursor) }, 'Next page') : null,
      );
    } catch (err) {
      render(container, errorBox(err));
    }
  };
  await go(null);
}
