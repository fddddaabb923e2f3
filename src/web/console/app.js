// The operator's console: sign in with a token, then one page per task. Plain ES modules and one CSS
// file, served as they are: no framework and no bundler, because five pages of forms and tables do not
// need one, nothing has to be built or fetched for them (the service ships them in the package), and
// what runs in the browser is exactly what is in src/web — easy to review, and it keeps a strict CSP
// (no inline script, no eval, no other origin).
//
// It uses the API only. Which pages and buttons appear follows the `x-roles` of openapi.yaml (read from
// /openapi.json), so a role is offered what the API would let it do; the API enforces it regardless.
import { createApi, tokenClaims } from './api.js';
import { h, problemBox } from './dom.js';
import { modelsPage } from './pages/models.js';
import { releasesPage } from './pages/releases.js';
import { verifyPage } from './pages/verify.js';
import { jobsPage } from './pages/jobs.js';
import { auditPage } from './pages/audit.js';

const PAGES = [
  { name: 'models', title: 'Models', needs: 'listModels', render: modelsPage },
  { name: 'releases', title: 'Releases', needs: 'listReleases', render: releasesPage },
  { name: 'verify', title: 'Verify', needs: 'createVerification', render: verifyPage },
  { name: 'jobs', title: 'Jobs', needs: 'listJobs', render: jobsPage },
  { name: 'audit', title: 'Audit log', needs: 'listAuditEvents', render: auditPage },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let session;
let leaving = [];

/** operationId → the roles that may call it, from the contract the server enforces. */
async function loadRoles() {
  const res = await fetch('/openapi.json');
  const doc = await res.json();
  const roles = new Map();
  for (const item of Object.values(doc.paths)) for (const op of Object.values(item)) if (op && op.operationId) roles.set(op.operationId, op['x-roles'] || []);
  return roles;
}

function signInForm(error) {
  const input = h('textarea', { name: 'token', rows: '4', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'eyJhbGciOiJFUzI1NiIs…' });
  const form = h('form', { class: 'card signin', id: 'signin' },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste an access token. Mint one on the server with ', h('code', {}, 'npx weightmark token --role admin --sub you'), '; the console keeps it in this tab\'s memory only.'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    error ? problemBox(error) : null);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(input.value.trim()).catch((err) => {
      main.replaceChildren(signInForm(err));
    });
  });
  return form;
}

async function signIn(token) {
  const claims = tokenClaims(token);
  const api = createApi(token);
  await api.json('GET', '/v1/verifications', { query: { limit: 1 } }); // every role may: proves the token is good
  const roles = await loadRoles();
  const can = (operationId) => (roles.get(operationId) || []).includes(claims.role);
  session = { api, claims, can };
  who.replaceChildren(h('span', {}, `${claims.sub} · ${claims.role}`), ' ', h('button', { type: 'button', class: 'link', id: 'signout', onclick: signOut }, 'Sign out'));
  const pages = PAGES.filter((p) => can(p.needs));
  nav.replaceChildren(...pages.map((p) => h('a', { href: `#/${p.name}`, 'data-page': p.name }, p.title)));
  const wanted = location.hash.slice(2);
  if (pages.some((p) => p.name === wanted)) show();
  else location.hash = `#/${pages[0].name}`;
}

function signOut() {
  leave();
  session = undefined;
  nav.replaceChildren();
  who.replaceChildren();
  main.replaceChildren(signInForm());
}

function leave() {
  for (const stop of leaving) stop();
  leaving = [];
}

function show() {
  if (!session) return;
  leave();
  const page = PAGES.find((p) => p.name === location.hash.slice(2) && session.can(p.needs));
  if (!page) return;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page.name);
  const view = h('div', { class: 'page', id: `page-${page.name}` });
  main.replaceChildren(view);
  const ctx = { ...session, onLeave: (stop) => leaving.push(stop), go: (name) => (location.hash = `#/${name}`) };
  Promise.resolve(page.render(view, ctx)).catch((err) => view.append(problemBox(err)));
}

window.addEventListener('hashchange', show);
main.replaceChildren(signInForm());
