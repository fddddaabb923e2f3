// Audit log: whether the hash chain still holds (and matches its signed head), then the entries, oldest first.
import { h, table, section, when, badge, field, problemBox } from '../dom.js';

function chainView(check) {
  const head = check.signedHead;
  return h('div', { id: 'chain', class: `chain ${check.ok ? 'ok' : 'broken'}` },
    h('p', { class: 'decision' }, check.ok ? 'Chain intact' : 'Chain broken'),
    h('p', {}, `${check.entries} entries; head hash `, h('code', {}, check.headHash.slice(0, 16) + '…')),
    head ? h('p', {}, `Signed head at entry ${head.seq} (${when(head.ts)}, key ${head.kid}): `, badge(head.matches ? 'matches' : 'does not match', head.matches ? 'ok' : 'failed')) : h('p', {}, 'No signed head yet.'),
    check.firstBroken ? h('p', { class: 'error' }, `First entry that does not fit: #${check.firstBroken.seq} — ${check.firstBroken.reason}`) : null);
}

/** An entry's details, one `field: value` per line, long values (JWS, digests) cut; the whole JSON on hover. */
function details(d) {
  const cut = (v) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  };
  return h('code', { class: 'details', title: JSON.stringify(d, null, 1) }, Object.entries(d).map(([k, v]) => `${k}: ${cut(v)}`).join('\n'));
}

export async function auditPage(view, page) {
  const status = h('div', {});
  const list = h('div', { id: 'audit-list' });
  const actor = h('input', { name: 'actor', maxlength: '200' });
  const action = h('input', { name: 'action', maxlength: '100', placeholder: 'e.g. release.create' });
  const more = h('button', { type: 'button', class: 'secondary' }, 'Next page');
  let after;

  const load = async (next) => {
    const query = { limit: 50, actor: actor.value.trim(), action: action.value.trim(), after: next };
    const pageOf = await page.api.json('GET', '/v1/audit/events', { query });
    after = pageOf.next;
    more.disabled = pageOf.next === null;
    list.replaceChildren(table([
      { label: '#', cell: (e) => e.seq },
      { label: 'When', cell: (e) => when(e.ts) },
      { label: 'Actor', cell: (e) => `${e.actor} (${e.role})` },
      { label: 'Action', cell: (e) => e.action },
      { label: 'Target', cell: (e) => e.target || '—' },
      { label: 'Details', cell: (e) => details(e.details) },
    ], pageOf.items, 'No entries match.'));
  };
  more.addEventListener('click', () => load(after).catch((err) => list.replaceChildren(problemBox(err))));
  const filter = h('form', { class: 'grid', id: 'audit-filter' }, field('Actor', actor), field('Action', action), h('button', { type: 'submit' }, 'Filter'));
  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    load(undefined).catch((err) => list.replaceChildren(problemBox(err)));
  });

  view.append(section('Chain', status), section('Entries', filter, list, h('p', {}, more)));
  status.replaceChildren(chainView(await page.api.json('GET', '/v1/audit/verify')));
  await load(undefined);
}
