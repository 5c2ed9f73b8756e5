import { get, post } from './api.js';
import { badge, h, render, table } from './dom.js';
import { age, errorBox, payloadView, predicateText, short } from './format.js';

const BULK_REASON = 'Bulk approval is for instance admins only (the API refuses others with 403).';

/** Pending approvals with what each would send; approve or reject one, or several at once. */
export async function approvalsView(main, ctx) {
  const outcome = h('div', { id: 'outcome', 'aria-live': 'polite' });
  const list = h('div');
  render(main, h('h2', {}, 'Approvals'), outcome, list);
  await load(list, outcome, ctx);
}

async function load(list, outcome, ctx) {
  const [{ items }, rules, outboxes] = await Promise.all([
    get(`${ctx.base}/approvals?status=pending`),
    get(`${ctx.base}/approval-rules`).then(
      (r) => r.items,
      () => [],
    ),
    get(`${ctx.base}/outboxes`).then(
      (r) => r.items,
      () => [],
    ),
  ]);
  if (items.length === 0) {
    render(list, h('p', { class: 'note' }, 'Nothing waits for approval.'));
    return;
  }
  // What would be sent comes with the approval; one requested before that was recorded has it only in its
  // activity's first event.
  const payloads = await Promise.all(
    items.map((a) =>
      a.payload
        ? a.payload
        : get(`${ctx.base}/activities/${a.activityId}/history`).then(
            (r) => r.events[0]?.data?.payload ?? null,
            () => null,
          ),
    ),
  );
  const ruleText = (id) => {
    if (!id) return 'no rule matched (manual by default)';
    const rule = rules.find((r) => r.id === id);
    return rule ? `${predicateText(rule.predicate)} (priority ${rule.priority})` : short(id);
  };
  const outboxText = (id) => {
    const o = outboxes.find((x) => x.id === id);
    return o ? `${o.channel}${o.niche ? ` · ${o.niche}` : ''} (${short(id)})` : short(id);
  };
  const selected = new Set();
  const decide = async (kind, ids) => {
    const buttons = list.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    try {
      const body = kind === 'approve' ? { approvalIds: ids } : { approvalIds: ids, reason: null };
      const { results } = await post(`${ctx.base}/approvals/bulk-${kind}`, body);
      render(
        outcome,
        h(
          'div',
          { class: 'outcome' },
          // What the decision led to, not only what was decided: an approved send may still have failed.
          h('strong', {}, outcomeHeading(kind, results)),
          h(
            'ul',
            {},
            results.map((r) =>
              h(
                'li',
                { dataset: { approval: r.approvalId } },
                `${short(r.approvalId)} → `,
                badge(r.status),
                r.error ? ` ${r.error.code}: ${r.error.message ?? ''}` : '',
              ),
            ),
          ),
        ),
      );
      await load(list, outcome, ctx);
    } catch (err) {
      render(outcome, errorBox(err));
      buttons.forEach((b) => (b.disabled = false));
      syncBulk();
    }
  };
  const isAdmin = ctx.me.kind === 'board' && ctx.me.instanceAdmin;
  const bulkApprove = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      disabled: true,
      'aria-describedby': isAdmin ? null : 'bulk-reason',
      onclick: () => decide('approve', [...selected]),
    },
    'Approve selected',
  );
  const bulkReject = h(
    'button',
    { type: 'button', class: 'danger', disabled: true, onclick: () => decide('reject', [...selected]) },
    'Reject selected',
  );
  const syncBulk = () => {
    bulkApprove.disabled = !isAdmin || selected.size === 0;
    bulkReject.disabled = selected.size === 0;
  };
  const rows = items.map((a, i) => {
    const payload = payloads[i];
    const box = h('input', {
      type: 'checkbox',
      'aria-label': `Select the approval for ${a.to}`,
      onchange: (e) => {
        if (e.target.checked) selected.add(a.id);
        else selected.delete(a.id);
        syncBulk();
      },
    });
    return [
      box,
      a.channel,
      outboxText(a.outboxId),
      a.to,
      payload ? payloadView(payload) : h('span', { class: 'note' }, '(not readable)'),
      ruleText(a.ruleId),
      h('time', { datetime: a.createdAt }, age(a.createdAt)),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', class: 'primary', onclick: () => decide('approve', [a.id]) }, 'Approve'),
        h('button', { type: 'button', class: 'danger', onclick: () => decide('reject', [a.id]) }, 'Reject'),
      ),
    ];
  });
  render(
    list,
    h('div', { class: 'toolbar' }, bulkApprove, bulkReject, isAdmin ? null : h('span', { id: 'bulk-reason', class: 'note' }, BULK_REASON)),
    table(['', 'Channel', 'Outbox', 'Recipient', 'Message', 'Rule that queued it', 'Age', 'Decide'], rows, {
      caption: `${items.length} pending`,
    }),
  );
}

/** "Approved" when every approved send went, else how many did not (failed, blocked, refused). */
function outcomeHeading(kind, results) {
  if (kind !== 'approve') return 'Rejected';
  const notSent = results.filter((r) => r.status !== 'sent' && r.status !== 'sent_dryrun').length;
  return notSent === 0 ? 'Approved' : `Approved; ${notSent} of ${results.length} not sent`;
}
