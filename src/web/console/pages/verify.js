// Verify: drop a suspect model in; the verdict, the licensee it names, and — for the roles the API gives
// them to — the per-layer evidence and a picture key's mark drawn from the suspect beside the original.
import { h, table, field, section, when, short, badge, problemBox } from '../dom.js';

/** A p-value from its log10: plain when it is not small, else as a power of ten. */
const pValue = (log10p) => (log10p <= -38 ? '< 1e-38' : log10p > -3 ? (10 ** log10p).toPrecision(2) : `1e${log10p.toFixed(1)}`);

function verdictView(v) {
  const matched = v.decision === 'match';
  return h('div', { class: `verdict ${matched ? 'match' : 'no-match'}`, id: 'verdict' },
    h('p', { class: 'decision' }, matched ? 'Match' : 'No match'),
    h('dl', {},
      h('dt', {}, 'Licensee'), h('dd', { id: 'leaked-by' }, v.leakedBy ? `Leaked by ${v.leakedBy}` : matched ? 'the owner\'s model itself (no licensee key matched)' : '—'),
      h('dt', {}, 'Claim'), h('dd', {}, v.claim),
      h('dt', {}, 'Evidence'), h('dd', {}, v.evidence),
      h('dt', {}, 'Model'), h('dd', {}, short(v.modelId)),
      h('dt', {}, 'Verification'), h('dd', {}, short(v.id), ' · ', when(v.createdAt))),
    h('p', {}, h('small', {}, 'The verdict is signed (', h('code', {}, 'verdictJws'), '): check it offline against ', h('a', { href: '/.well-known/jwks.json' }, '/.well-known/jwks.json'), '.')));
}

/** Per-key and per-layer figures: only in a response to admin and auditor (the API leaves them out for other roles). */
function evidenceView(report) {
  const best = report.best;
  return h('div', { id: 'evidence' },
    h('p', {}, `Combined p-value ${report.atFloor ? '< ' : ''}${report.pValue.toExponential(2)} over ${report.comparisons} comparisons (${report.keysScored} keys scored, ${report.keysScreened} screened out).`),
    h('h3', {}, 'Candidate keys'),
    table([
      { label: 'Kind', cell: (c) => c.kind },
      { label: 'Licensee', cell: (c) => c.licensee || '—' },
      { label: 'Decision', cell: (c) => badge(c.decision) },
      { label: 'r', cell: (c) => (c.r === null ? '—' : c.r.toFixed(3)) },
      { label: 'p', cell: (c) => pValue(c.log10p) },
      { label: 'Alignment', cell: (c) => c.alignment || '—' },
    ], report.candidates),
    best ? h('h3', {}, `Per layer, best key (${best.kind}${best.licensee ? `: ${best.licensee}` : ''})`) : null,
    best ? table([
      { label: 'Layer', cell: (l) => l.layer },
      { label: 'Positions', cell: (l) => l.n },
      { label: 'r', cell: (l) => l.r.toFixed(3) },
      { label: 'p (layer alone)', cell: (l) => pValue(l.log10p) },
    ], best.layers) : null);
}

/** A picture key's mark: as drawn from the suspect's weights, beside the picture the key was made from. */
function markView(mark) {
  const img = (label, b64) => h('figure', {}, h('img', { src: `data:image/png;base64,${b64}`, width: String(mark.width * 4), height: String(mark.height * 4), alt: label }), h('figcaption', {}, label));
  return h('div', { class: 'marks', id: 'mark' }, img('original (the key)', mark.original), img('drawn from the suspect', mark.extracted));
}

function resultView(v) {
  return h('div', {},
    verdictView(v),
    v.report ? section('Evidence', evidenceView(v.report)) : null,
    v.mark ? section('The mark', markView(v.mark)) : null);
}

function history(items) {
  return table([
    { label: 'When', cell: (v) => when(v.createdAt) },
    { label: 'By', cell: (v) => v.createdBy },
    { label: 'Decision', cell: (v) => badge(v.decision) },
    { label: 'Licensee', cell: (v) => v.leakedBy || '—' },
    { label: 'Claim', cell: (v) => v.claim },
    { label: 'Id', cell: (v) => short(v.id) },
  ], items, 'No verifications yet.');
}

export async function verifyPage(view, page) {
  const out = h('div', { id: 'verify-result' });
  const past = h('div', { id: 'verification-list' });
  const licensee = h('input', { name: 'licensee', maxlength: '200', placeholder: 'any' });
  const input = h('input', { type: 'file', id: 'suspect-input', multiple: true });
  const refresh = async () => past.replaceChildren(history((await page.api.json('GET', '/v1/verifications', { query: { limit: 20 } })).items));

  const verify = async (files) => {
    if (!files.length) return;
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    if (licensee.value.trim()) form.append('licensee', licensee.value.trim());
    out.replaceChildren(h('p', { class: 'busy' }, `Verifying ${[...files].map((f) => f.name).join(', ')}…`));
    try {
      out.replaceChildren(resultView(await page.api.json('POST', '/v1/verifications', { form })));
      await refresh();
    } catch (err) {
      out.replaceChildren(problemBox(err));
    }
  };

  const zone = h('div', { class: 'dropzone', id: 'dropzone', tabindex: '0' },
    h('p', {}, 'Drop a suspect model here'),
    h('small', {}, 'ONNX, safetensors, .npz, a PyTorch .pt checkpoint, or a tfjs model.json with its shards'),
    h('p', {}, 'or ', h('label', { class: 'link' }, 'choose files', input)));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    verify(e.dataTransfer.files);
  });
  input.addEventListener('change', () => verify(input.files));

  view.append(section('Verify a suspect model', field('Only keys of licensee (optional)', licensee), zone, out), section('Earlier verifications', past));
  await refresh();
}
