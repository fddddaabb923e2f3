// Jobs: every training, release and attack job, the unfinished ones followed live.
import { h, table, section, when, short, problemBox } from '../dom.js';
import { isTerminal } from '../api.js';
import { progressView } from '../progress.js';
import { attackResult } from '../sweep.js';

/** Live streams at once: each costs the server a connection and the subject a ticket. */
const MAX_FOLLOWED = 8;

export async function jobsPage(view, page) {
  const list = h('div', { id: 'job-list' });
  const refresh = async () => {
    const jobs = (await page.api.json('GET', '/v1/jobs', { query: { limit: 50 } })).items;
    let followed = 0;
    const cell = (j) => {
      const p = progressView(j);
      if (!isTerminal(j.status) && followed++ < MAX_FOLLOWED) {
        page.onLeave(page.api.follow(j.id, { onStatus: p.update, onProgress: p.update, onEnd: p.update, onError: (err) => p.el.append(problemBox(err)) }));
      }
      return p.el;
    };
    const cancel = (j) => (isTerminal(j.status) || !page.can('cancelJob') ? '' : h('button', { type: 'button', class: 'secondary', onclick: async (e) => {
      e.target.disabled = true;
      try {
        await page.api.json('POST', `/v1/jobs/${encodeURIComponent(j.id)}/cancel`);
      } catch (err) {
        e.target.replaceWith(problemBox(err));
      }
    } }, 'Cancel'));
    const show = (j) => (j.kind !== 'attack' || j.status !== 'succeeded' || !page.can('getAttackPlot') ? '' : h('button', { type: 'button', class: 'secondary show-sweep', onclick: async (e) => {
      try {
        sweepView.replaceChildren(await attackResult(page, j.id));
      } catch (err) {
        e.target.replaceWith(problemBox(err));
      }
    } }, 'Show'));
    list.replaceChildren(table([
      { label: 'Job', cell: (j) => short(j.id) },
      { label: 'Kind', cell: (j) => j.kind },
      { label: 'Progress', cell },
      { label: 'By', cell: (j) => j.createdBy },
      { label: 'Created', cell: (j) => when(j.createdAt) },
      { label: '', cell: (j) => [show(j), cancel(j)] },
    ], jobs, 'No jobs yet.'));
  };
  const sweepView = h('div', { id: 'sweep-view' });
  view.append(section('Jobs', h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => refresh() }, 'Refresh')), list, sweepView));
  await refresh();
}

