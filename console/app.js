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

function chosenCompany() {
  const saved = sessionStorage.getItem(COMPANY_KEY);
  if (saved && me.companies.includes(saved)) return saved;
  return me.companies[0] ?? null;
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
    me.companies.map((c) => h('option', { value: c, selected: c === companyId }, c)),
  );
  const who = `${me.kind === 'agent' ? 'agent' : 'board'} ${me.id}${me.instanceAdmin ? ' (instance admin)' : ''}`;
  render(
    sessionBox,
    me.companies.length ? h('label', { for: 'company', class: 'check' }, 'Company', picker) : h('span', { class: 'note' }, 'No company'),
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
      h('p', {}, 'This token may act for no company. Ask for a token with a company, or as an instance admin create an outbox first.'),
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
  render(main, h('p', {}, 'Loading…'));
  try {
    await view(main, ctx, ...m.slice(1));
  } catch (err) {
    render(main, errorBox(err));
  }
  document.title = `${main.querySelector('h2')?.textContent ?? 'Console'} · ${short(companyId)} · crm-outreach`;
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
