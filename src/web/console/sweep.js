// An attack sweep's result as the console shows it (Jobs, and the attack form on Models).
import { h, table, section } from './dom.js';

const pct = (x) => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : '—');
const onData = (e) => (!e ? '' : e.split === 'held-out' ? `the held-out split of uploaded dataset ${e.datasetId} (${e.samples} images)` : `the ${e.dataset} test set (${e.samples} images)`);

/** A succeeded attack job: what it measured on, accuracy and score per strength, and its plot (an image: the SVG never becomes markup here). */
export async function attackResult(page, id) {
  const job = await page.api.json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  const sweep = job.result.sweep;
  const { blob } = await page.api.download(job.result.plot);
  const url = URL.createObjectURL(blob);
  page.onLeave(() => URL.revokeObjectURL(url));
  const rows = sweep.series.flatMap((s) => [{ ...s.baseline, strength: 'unattacked' }, ...s.points].map((p) => ({ ...p, model: s.model })));
  return section(`Attack: ${sweep.attack.title}`,
    h('p', { class: 'evaluated-on' }, `Accuracy on ${onData(job.result.evaluatedOn)}.`),
    h('p', { class: 'aligned-onto' }, `Scored as a verification scores it, aligned onto ${job.result.alignedOnto === 'anchor' ? 'the anchor (the weights from before the key was drawn)' : 'the model'}.`),
    table([
      { label: sweep.attack.strengthName, cell: (p) => String(p.strength) },
      { label: 'Accuracy', cell: (p) => pct(p.accuracy) },
      { label: 'r', cell: (p) => (typeof p.r === 'number' ? p.r.toFixed(3) : '—') },
      { label: 'Decision', cell: (p) => p.decision || '—' },
    ], rows),
    h('img', { class: 'sweep-plot', src: url, alt: `${sweep.attack.title}: score and accuracy against ${sweep.attack.strengthName}` }));
}
