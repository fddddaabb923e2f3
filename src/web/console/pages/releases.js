// Releases: issue a fingerprinted copy to a licensee (a job, followed live) and download releases.
import { h, table, field, section, onSubmit, when, short, badge, problemBox } from '../dom.js';
import { progressView, followInto } from '../progress.js';

const FORMATS = ['onnx', 'onnx-nhwc', 'safetensors', 'pt', 'tfjs'];

/** Hands a blob to the browser as a file download. */
function save(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function downloadControl(page, release) {
  const format = h('select', { 'aria-label': 'format' }, FORMATS.map((f) => h('option', { value: f }, f)));
  const note = h('small', { class: 'download-note' });
  const button = h('button', { type: 'button', class: 'download', 'data-release': release.id, onclick: async () => {
    button.disabled = true;
    note.replaceChildren();
    try {
      const { name, blob, headers } = await page.api.download(`/v1/releases/${encodeURIComponent(release.id)}/download`, { format: format.value });
      save(name, blob);
      note.textContent = `${name} · ${blob.size.toLocaleString()} bytes${headers.get('Weightmark-Manifest') ? ' · signed manifest in the response' : ''}`;
    } catch (err) {
      note.replaceChildren(problemBox(err));
    } finally {
      button.disabled = false;
    }
  } }, 'Download');
  return h('span', { class: 'inline' }, format, button, note);
}

function releaseTable(page, releases) {
  const canDownload = page.can('downloadRelease');
  return table([
    { label: 'Licensee', cell: (r) => r.licensee },
    { label: 'Release', cell: (r) => short(r.id) },
    { label: 'Model', cell: (r) => short(r.modelId) },
    { label: 'Status', cell: (r) => badge(r.status) },
    { label: 'Created', cell: (r) => `${when(r.createdAt)} by ${r.createdBy}` },
    ...(canDownload ? [{ label: 'Download', cell: (r) => (r.status === 'ready' ? downloadControl(page, r) : r.error || '—') }] : []),
  ], releases, 'No releases yet.');
}

function issueForm(page, models, refresh) {
  const bases = models.filter((m) => m.source !== 'release' && m.ownerKeyId);
  const form = h('form', { id: 'release-form', class: 'grid' },
    field('Model', h('select', { name: 'model', required: true }, bases.map((m) => h('option', { value: m.id }, `${m.name} (${m.id})`)))),
    field('Licensee', h('input', { name: 'licensee', required: true, maxlength: '200', placeholder: 'Acme Corp' })),
    field('Epochs', h('input', { type: 'number', name: 'epochs', value: '1', min: '0', max: '100' }), 'the short fine-tune that embeds the licensee key'),
    field('Training samples', h('input', { type: 'number', name: 'limit', value: '2000', min: '1' })),
    h('button', { type: 'submit', disabled: bases.length === 0 }, 'Issue release'),
    bases.length === 0 ? h('p', { class: 'empty' }, 'A release needs a model with a watermark key: train one first.') : null);
  return onSubmit(form, async (data, out) => {
    const body = { licensee: data.get('licensee'), epochs: Number(data.get('epochs')) };
    if (data.get('limit')) body.limit = Number(data.get('limit'));
    const { release, job } = await page.api.json('POST', `/v1/models/${encodeURIComponent(data.get('model'))}/releases`, { json: body });
    const view = progressView(job);
    out.replaceChildren(h('p', {}, `Release ${release.id} for ${release.licensee}`), view.el);
    await refresh();
    const done = await followInto(page, job, view);
    await refresh();
    if (done.status === 'succeeded') out.append(h('p', { class: 'ok', id: 'released' }, `Release for ${release.licensee} is ready`));
  });
}

export async function releasesPage(view, page) {
  const list = h('div', { id: 'release-list' });
  const refresh = async () => list.replaceChildren(releaseTable(page, (await page.api.json('GET', '/v1/releases', { query: { limit: 200 } })).items));
  view.append(section('Releases', list));
  if (page.can('createRelease')) {
    const models = (await page.api.json('GET', '/v1/models', { query: { limit: 500 } })).items;
    view.append(section('Issue a release to a licensee', issueForm(page, models, refresh)));
  }
  await refresh();
}
