// The console's shell: sign-in, the company picker, and a hash router over the views. Every view calls the
// service's JSON API only, under the guards the API keeps.
import { ApiError, get, session } from './api.js';
import { h, render } from './dom.js';
import { loadEnums } from './enums.js';
import { errorBox, short } from './format.js';
import { approvalsView } from './approvals.js';
import { rulesView } from './rules.js';
import { activitiesView, activityView } from './activities.js';
import { outboxesView } from './outboxes.js';
import { sequencesView, sequenceView } from './sequences.js';

const COMPANY_KEY = 'crm.console.company';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const sessionBox = document.getElementById('session');
const statusBox = document.getElementById('status');

const ROUTES = [
  [/^#\/approvals$/, approvalsView],
  [/^#\/rules$/, rulesView],
  [/^#\/activities$/, activitiesView],
  [/^#\/activities\/([0-9a-f-]{36})$/i, activityView],
  [/^#\/outboxes$/, outboxesView],
  [/^#\/sequences$/, sequencesView],
  [/^#\/sequences\/([0-9a-f-]{36})$/i, sequenceView],
];

let me = null;
/** Counts route changes: a view finishing after a later one began is stale. */
let routes = 0;

function say(text) {
  statusBox.textContent = text ?? '';
}

function signIn(problem) {
  nav.hidden = true;
  render(sessionBox);
  const field = h('textarea', { id: 'token', name: 'token', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: (e) => {
        e.preventDefault();
        session.setToken(field.value.trim());
        start();
      },
    },
    h('h2', {}, 'Sign in'),
    h(
      'p',
      { class: 'note' },
      'Paste a board token (crm token board, or POST /api/admin/board-tokens). It is kept in this tab only and sent as the bearer token.',
    ),
    problem ? errorBox(problem) : null,
    h('label', { for: 'token' }, 'Board token'),
    field,
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  );
  render(main, form);
  field.focus();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// An instance admin may act for any company, including one that has nothing yet (a first run): it may name one.
function chosenCompany() {
  const saved = sessionStorage.getItem(COMPANY_KEY);
  if (saved && (me.companies.includes(saved) || (me.instanceAdmin && UUID.test(saved)))) return saved;
  return me.companies[0] ?? null;
}

function companyChoices(companyId) {
  return companyId && !me.companies.includes(companyId) ? [companyId, ...me.companies] : me.companies;
}

/** A form to name a company by its id (or make a new id): what an instance admin starts from on a first run. */
function companyEntry() {
  const field = h('input', { id: 'company-id', name: 'company-id', placeholder: '00000000-0000-0000-0000-000000000000', size: 38 });
  const open = (id) => {
    sessionStorage.setItem(COMPANY_KEY, id.toLowerCase());
    route();
  };
  return h(
    'form',
    {
      class: 'company-entry',
      onsubmit: (e) => {
        e.preventDefault();
        const id = field.value.trim();
        if (!UUID.test(id)) return say('A company id is a UUID.');
        open(id);
      },
    },
    h('label', { for: 'company-id' }, 'Company id'),
    field,
    h('button', { type: 'submit' }, 'Open'),
    h('button', { type: 'button', onclick: () => open(crypto.randomUUID()) }, 'New company id'),
  );
}

function header(companyId) {
  const picker = h(
    'select',
    {
      id: 'company',
      onchange: (e) => {
        sessionStorage.setItem(COMPANY_KEY, e.target.value);
        route();
      },
    },
    companyChoices(companyId).map((c) => h('option', { value: c, selected: c === companyId }, c)),
  );
  const who = `${me.kind === 'agent' ? 'agent' : 'board'} ${me.id}${me.instanceAdmin ? ' (instance admin)' : ''}`;
  render(
    sessionBox,
    companyId ? h('label', { for: 'company', class: 'check' }, 'Company', picker) : h('span', { class: 'note' }, 'No company'),
    h('span', { class: 'note' }, who),
    session.token()
      ? h(
          'button',
          {
            type: 'button',
            onclick: () => {
              session.clear();
              me = null;
              signIn();
            },
          },
          'Sign out',
        )
      : null,
  );
}

async function route() {
  if (!me) return;
  const hash = location.hash || '#/approvals';
  for (const a of nav.querySelectorAll('a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const companyId = chosenCompany();
  header(companyId);
  if (!companyId) {
    render(
      main,
      me.instanceAdmin
        ? h(
            'div',
            {},
            h('h2', {}, 'Choose a company'),
            h(
              'p',
              { class: 'note' },
              'No company has an outbox yet. Name one by its id, or make a new id and add its outboxes through the API or the CLI.',
            ),
            companyEntry(),
          )
        : h('p', {}, 'This token may act for no company. Ask for a token with a company.'),
    );
    return;
  }
  const match = ROUTES.map(([re, view]) => [hash.match(re), view]).find(([m]) => m);
  if (!match) {
    location.hash = '#/approvals';
    return;
  }
  const [m, view] = match;
  const ctx = { me, companyId, base: `/api/companies/${companyId}/crm`, say, reroute: route };
  say('');
  // Each view draws into its own element: one still loading when the next starts draws into an element no
  // longer shown, and cannot overwrite the later one.
  const ticket = ++routes;
  const target = h('div', { class: 'view' }, h('p', {}, 'Loading…'));
  render(main, target);
  try {
    await view(target, ctx, ...m.slice(1));
  } catch (err) {
    if (ticket !== routes) return;
    // The token was revoked or expired while the console was open: back to sign-in, saying why.
    if (err instanceof ApiError && err.status === 401) {
      session.clear();
      me = null;
      return signIn(err);
    }
    render(target, errorBox(err));
  }
  if (ticket === routes) document.title = `${target.querySelector('h2')?.textContent ?? 'Console'} · ${short(companyId)} · crm-outreach`;
}

async function start() {
  try {
    me = await get('/api/me');
  } catch (err) {
    me = null;
    if (err instanceof ApiError && err.status === 401) {
      const hadToken = Boolean(session.token());
      session.clear();
      return signIn(hadToken ? err : null);
    }
    return render(main, errorBox(err));
  }
  try {
    await loadEnums();
  } catch (err) {
    return render(main, errorBox(err));
  }
  nav.hidden = false;
  await route();
}

window.addEventListener('hashchange', route);
start();
