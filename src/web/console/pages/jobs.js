// Jobs: every training, release and attack job, the unfinished ones followed live.
import { h, table, section, when, short, problemBox } from '../dom.js';
import { isTerminal } from '../api.js';
import { progressView } from '../progress.js';

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

const pct = (x) => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : '—');
const onData = (e) => (!e ? '' : e.split === 'held-out' ? `the held-out split of uploaded dataset ${e.datasetId} (${e.samples} images)` : `the ${e.dataset} test set (${e.samples} images)`);

/** A succeeded attack job: what it measured on, accuracy and score per strength, and its plot (an image: the SVG never becomes markup here). */
async function attackResult(page, id) {
  const job = await page.api.json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  const sweep = job.result.sweep;
  const { blob } = await page.api.download(job.result.plot);
  const url = URL.createObjectURL(blob);
  page.onLeave(() => URL.revokeObjectURL(url));
  const rows = sweep.series.flatMap((s) => [{ ...s.baseline, strength: 'unattacked' }, ...s.points].map((p) => ({ ...p, model: s.model })));
  return section(`Attack: ${sweep.attack.title}`,
    h('p', { class: 'evaluated-on' }, `Accuracy on ${onData(job.result.evaluatedOn)}.`),
    table([
      { label: sweep.attack.strengthName, cell: (p) => String(p.strength) },
      { label: 'Accuracy', cell: (p) => pct(p.accuracy) },
      { label: 'r', cell: (p) => (typeof p.r === 'number' ? p.r.toFixed(3) : '—') },
      { label: 'Decision', cell: (p) => p.decision || '—' },
    ], rows),
    h('img', { class: 'sweep-plot', src: url, alt: `${sweep.attack.title}: score and accuracy against ${sweep.attack.strengthName}` }));
}
