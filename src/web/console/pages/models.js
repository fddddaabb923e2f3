// Models: the list, training a watermarked model (a job, followed live), registering an upload.
import { h, table, field, section, onSubmit, when, short, badge } from '../dom.js';
import { progressView, followInto } from '../progress.js';
import { attackResult } from '../sweep.js';

// The registry's architectures (src/core/architectures.ts); the service refuses a dataset whose images do not fit (422).
const ARCHITECTURES = ['lenet5', 'mlp', 'resnet32', 'allcnnc'];

function modelTable(models) {
  return table([
    { label: 'Name', cell: (m) => m.name },
    { label: 'Id', cell: (m) => short(m.id) },
    { label: 'Arch', cell: (m) => m.arch || '—' },
    { label: 'Source', cell: (m) => badge(m.source) },
    { label: 'Format', cell: (m) => m.format },
    { label: 'Parameters', cell: (m) => m.paramCount.toLocaleString() },
    { label: 'Watermark', cell: (m) => (m.ownerKeyId ? badge('keyed', 'ok') : '—') },
    { label: 'Created', cell: (m) => `${when(m.createdAt)} by ${m.createdBy}` },
  ], models, 'No models yet: train one or register an upload.');
}

function number(name, value, min, max) {
  return h('input', { type: 'number', name, value, min, max, step: '1' });
}

function trainForm(page, refresh) {
  const form = h('form', { id: 'train-form', class: 'grid' },
    field('Name', h('input', { name: 'name', maxlength: '200', placeholder: 'demo' })),
    field('Architecture', h('select', { name: 'arch' }, ARCHITECTURES.map((a) => h('option', { value: a }, a)))),
    field('Dataset', h('select', { name: 'dataset' }, h('option', { value: 'mnist' }, 'MNIST'), h('option', { value: 'fashion-mnist' }, 'Fashion-MNIST'), h('option', { value: 'cifar10' }, 'CIFAR-10 (resnet32, allcnnc)'))),
    field('Strategy', h('select', { name: 'strategy' }, ['naive', 'delve', 'none'].map((s) => h('option', { value: s }, s))), 'naive: the measured default'),
    field('Epochs', number('epochs', '1', '0', '1000')),
    field('Training samples', number('limit', '3000', '1'), 'the first N of the set; empty for all'),
    h('button', { type: 'submit' }, 'Train'));
  return onSubmit(form, async (data, out) => {
    const body = { arch: data.get('arch'), dataset: data.get('dataset'), strategy: data.get('strategy'), epochs: Number(data.get('epochs')) };
    if (data.get('name')) body.name = data.get('name');
    if (data.get('limit')) body.limit = Number(data.get('limit'));
    const job = await page.api.json('POST', '/v1/models/train', { json: body });
    const view = progressView(job);
    out.replaceChildren(h('p', {}, 'Training job ', short(job.id)), view.el);
    const done = await followInto(page, job, view);
    if (done.status === 'succeeded') {
      const r = done.result || {};
      out.append(h('p', { class: 'ok', id: 'trained' }, `Model ${r.modelId} trained`, typeof r.testAccuracy === 'number' ? ` — test accuracy ${(r.testAccuracy * 100).toFixed(2)}%` : ''));
      await refresh();
    }
  });
}

function registerForm(page, refresh) {
  const form = h('form', { id: 'register-form', class: 'grid' },
    field('Model files', h('input', { type: 'file', name: 'file', multiple: true, required: true }), 'ONNX, safetensors, .npz/.npy, a PyTorch .pt checkpoint, or tfjs model.json with its shards'),
    field('Watermark key (optional)', h('input', { type: 'file', name: 'key', accept: '.json,application/json' }), 'kept encrypted; only an admin can export it again'),
    field('Name', h('input', { name: 'name', maxlength: '200' })),
    field('Architecture', h('input', { name: 'arch', maxlength: '64', list: 'archs' })),
    h('datalist', { id: 'archs' }, ARCHITECTURES.map((a) => h('option', { value: a }))),
    h('button', { type: 'submit' }, 'Register'));
  return onSubmit(form, async (data) => {
    const form = new FormData();
    for (const f of data.getAll('file')) if (f.size) form.append('file', f, f.name);
    const key = data.get('key');
    if (key && key.size) form.append('key', key, key.name);
    for (const k of ['name', 'arch']) if (data.get(k)) form.append(k, data.get(k));
    const m = await page.api.json('POST', '/v1/models', { form });
    await refresh();
    return h('p', { class: 'ok' }, `Registered ${m.name} (${m.id}), ${m.format}, ${m.paramCount.toLocaleString()} parameters`);
  });
}

/**
 * Sweeps an attack on one of the keyed models (a job, followed live), then shows what it measured.
 * `setModels` fills the model choice again when the list changes (a model just trained or registered).
 */
function attackForm(page, attacks) {
  const modelPick = h('select', { name: 'model', required: true });
  const submit = h('button', { type: 'submit' }, 'Sweep');
  const setModels = (models) => {
    const keyed = models.filter((m) => m.ownerKeyId);
    modelPick.replaceChildren(...keyed.map((m) => h('option', { value: m.id }, `${m.name} (${m.arch || '?'})`)));
    submit.disabled = keyed.length === 0;
  };
  const hint = h('small', { class: 'strength-hint' });
  const pick = h('select', { name: 'attack' }, attacks.map((a) => h('option', { value: a.name }, `${a.title} (${a.name})`)));
  const describe = () => {
    const a = attacks.find((x) => x.name === pick.value);
    hint.textContent = a ? `${a.strength.name}: ${a.strength.defaults.join(', ')}${a.needsData ? '; trains on the model\'s data' : ''}` : '';
  };
  pick.addEventListener('change', describe);
  describe();
  const form = h('form', { id: 'attack-form', class: 'grid' },
    field('Model', modelPick, 'models with a watermark key'),
    h('label', { class: 'field' }, h('span', {}, 'Attack'), pick, hint),
    field('Strengths', h('input', { name: 'strengths', placeholder: 'the defaults above' }), 'comma-separated numbers'),
    field('Test images', number('testLimit', '1000', '100', '10000')),
    submit);
  onSubmit(form, async (data, out) => {
    const body = { attack: data.get('attack'), testLimit: Number(data.get('testLimit')) };
    const list = String(data.get('strengths') || '').split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (list.length) body.strengths = list.map(Number); // a word becomes NaN: the API says which value is wrong
    const job = await page.api.json('POST', `/v1/models/${encodeURIComponent(data.get('model'))}/attacks`, { json: body });
    const view = progressView(job);
    out.replaceChildren(h('p', {}, 'Attack job ', short(job.id)), view.el);
    const done = await followInto(page, job, view);
    if (done.status === 'succeeded') out.append(await attackResult(page, job.id));
  });
  return { form, setModels };
}

export async function modelsPage(view, page) {
  const list = h('div', { id: 'model-list' });
  const attacking = page.can('startAttack') && page.can('listAttacks') ? attackForm(page, (await page.api.json('GET', '/v1/attacks')).items) : undefined;
  const refresh = async () => {
    const models = (await page.api.json('GET', '/v1/models', { query: { limit: 200 } })).items;
    list.replaceChildren(modelTable(models));
    attacking?.setModels(models);
  };
  view.append(section('Models', list));
  if (page.can('trainModel')) view.append(section('Train a watermarked model', trainForm(page, refresh)));
  if (page.can('registerModel')) view.append(section('Register an upload', registerForm(page, refresh)));
  if (attacking) view.append(section('Attack a watermarked model', h('p', {}, 'Accuracy and watermark score at each strength, on the model\'s own data.'), attacking.form));
  await refresh();
}
