/**
 * Naive against delve, same initialisation and same key, under attacks strong enough to move the naive
 * mark; r overall and per layer every `--every` steps of each fine-tuning attack. Results as JSON (stdout
 * summary, full trace in --out). Reproduce the issue-2 note with:
 *
 *   npx tsx scripts/experiments/robustness.ts --limit 60000 --epochs 5 --out docs/experiments/robustness-lenet5.json
 *
 * Flags: --limit N (training samples), --epochs E (training), --attack-epochs A, --lambdas 0.1,0.5,
 * --sigma S, --replicas R, --threads T, --skip-none, --margin M, --attack-limit N.
 * --models DIR attacks models already trained by `weightmark train` instead: DIR/naive and DIR/delve
 * (TensorFlow.js folders), the key from DIR/naive/key.json.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadTfjsModel } from '../../src/formats/tfjsFiles.js';
import { getArchitecture } from '../../src/core/architectures.js';
import { defaults } from '../../src/core/config.js';
import { extractValues } from '../../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet, parseKey } from '../../src/core/keygen.js';
import { gaussianSource } from '../../src/core/locking.js';
import type { ParamSet } from '../../src/core/paramSet.js';
import { pearson, scoreAgainstKey } from '../../src/core/score.js';
import type { WatermarkKey } from '../../src/core/watermarkKey.js';
import { loadDataset, type Dataset } from '../../src/data/datasets.js';
import { createGradientEngine } from '../../src/training/engine.js';
import { initParams } from '../../src/core/init.js';
import { toParamSet, trainModel } from '../../src/training/train.js';

const { values: a } = parseArgs({
  options: {
    limit: { type: 'string', default: '60000' }, epochs: { type: 'string', default: '2' }, 'attack-epochs': { type: 'string', default: '3' },
    lambdas: { type: 'string', default: String(defaults.delve.lambda) }, sigma: { type: 'string', default: String(defaults.delve.sigma) },
    replicas: { type: 'string', default: String(defaults.delve.replicas) }, threads: { type: 'string' }, every: { type: 'string', default: '100' },
    out: { type: 'string', default: '.tmp/robustness.json' }, margin: { type: 'string', default: 'Infinity' }, 'skip-none': { type: 'boolean' }, 'attack-limit': { type: 'string' }, models: { type: 'string' },
  },
});
const limit = Number(a.limit);
const epochs = Number(a.epochs);
const attackEpochs = Number(a['attack-epochs']);
const every = Number(a.every);
const arch = getArchitecture('lenet5');
const train = loadDataset('mnist', 'train', { limit });
const attackTrain = a['attack-limit'] ? loadDataset('mnist', 'train', { limit: Number(a['attack-limit']) }) : train;
const test = loadDataset('mnist', 'test');
let fashion: { train: Dataset; test: Dataset } | undefined;
try {
  fashion = { train: loadDataset('fashion-mnist', 'train', { limit: Math.min(limit, 60000) }), test: loadDataset('fashion-mnist', 'test') };
} catch (e) {
  console.error(`Fashion-MNIST attack skipped: ${(e as Error).message}`);
}
const engine = await createGradientEngine(arch, a.threads ? { threads: Number(a.threads) } : {});
console.error(`engine: ${engine.backend} x${engine.threads}`);
const init = toParamSet(arch, initParams(arch, 11));
const key = a.models
  ? parseKey(JSON.parse(readFileSync(join(a.models, 'naive', 'key.json'), 'utf8')))
  : generateKey(keyTargetsFromParamSet(init), { seed: 'robustness-experiment', n: defaults.key.n, arch: arch.name });

function rPerLayer(set: ParamSet, k: WatermarkKey) {
  const ext = extractValues(set, k);
  const layers = new Map<string, { e: number[]; v: number[] }>();
  k.tensorIndex.forEach((t, i) => {
    const layer = k.tensors[t]!.name.split('/')[0]!;
    const g = layers.get(layer) ?? { e: [], v: [] };
    g.e.push(ext[i]!);
    g.v.push(k.values[i]!);
    layers.set(layer, g);
  });
  const s = scoreAgainstKey(ext, k);
  return {
    r: s.r, log10p: s.log10p, ber: s.ber,
    layers: Object.fromEntries([...layers].map(([l, g]) => [l, { n: g.e.length, r: g.e.length > 2 ? pearson(g.e, g.v) : NaN }])),
  };
}

/** The valley's steepness: mean test-loss rise when the keyed weights get noise of σ × their RMS. */
async function steepness(set: ParamSet, sigma: number) {
  const base = await engine.evaluate(set.tensors.map((t) => t.data), { x: test.x, y: test.y, n: test.n });
  const g = gaussianSource(17);
  const rises: number[] = [];
  for (let k = 0; k < 3; k++) {
    const moved = set.tensors.map((t) => new Float32Array(t.data));
    key.tensorIndex.forEach((ti, i) => {
      const name = key.tensors[ti]!.name;
      const idx = set.tensors.findIndex((t) => t.name === name);
      moved[idx]![key.flatIndex[i]!] = key.values[i]! + sigma * Math.abs(key.values[i]!) * g();
    });
    rises.push((await engine.evaluate(moved, { x: test.x, y: test.y, n: test.n })).loss - base.loss);
  }
  return rises.reduce((a, b) => a + b, 0) / rises.length;
}

async function accuracy(set: ParamSet, data: Dataset = test) {
  const params = set.tensors.map((t) => t.data);
  return (await engine.evaluate(params, { x: data.x, y: data.y, n: data.n })).accuracy;
}

/** Fine-tunes all parameters freely, recording the score every `every` steps. */
async function fineTune(model: ParamSet, opts: { lr: number; momentum: number; weightDecay: number; epochs: number; data?: Dataset; testData?: Dataset }) {
  const trace: { step: number; r: number; layers: Record<string, { r: number }> }[] = [{ step: 0, ...rPerLayer(model, key) }];
  const res = await trainModel({
    arch, strategy: 'none', init: model, epochs: opts.epochs, lr: opts.lr, momentum: opts.momentum, weightDecay: opts.weightDecay,
    schedule: 'constant', trainData: opts.data ?? attackTrain, testData: opts.testData ?? test, engine, seed: 99,
    checkpointEvery: every, onCheckpoint: (step, p) => trace.push({ step, ...rPerLayer(p, key) }),
  });
  return { trace, accuracy: res.testAccuracy, final: rPerLayer(res.params, key) };
}

function addNoise(model: ParamSet, relStd: number, seed: number): ParamSet {
  const g = gaussianSource(seed);
  return {
    ...model,
    tensors: model.tensors.map((t) => {
      let s = 0;
      for (const v of t.data) s += v * v;
      const std = Math.sqrt(s / t.data.length);
      return { ...t, data: Float32Array.from(t.data, (v) => v + relStd * std * g()) };
    }),
  };
}

async function loaded(dir: string) {
  const params = loadTfjsModel(dir);
  return { params, testAccuracy: await accuracy(params), samplesPerSec: NaN, history: [] };
}

type Config = { label: string; strategy: 'none' | 'naive' | 'delve'; lambda?: number };
const configs: Config[] = a.models ? [{ label: 'naive', strategy: 'naive' }, { label: 'delve', strategy: 'delve' }] : [
  ...(a['skip-none'] ? [] : [{ label: 'none (no key)', strategy: 'none' as const }]),
  { label: 'naive', strategy: 'naive' },
  ...a.lambdas!.split(',').map((l) => ({ label: `delve λ=${l}`, strategy: 'delve' as const, lambda: Number(l) })),
];
const results: Record<string, unknown>[] = [];
for (const c of configs) {
  const t0 = performance.now();
  const trained = a.models ? await loaded(join(a.models, c.strategy)) : await trainModel({
    arch, strategy: c.strategy, ...(c.strategy !== 'none' ? { key } : {}), init, epochs, trainData: train, testData: test, engine, seed: 5,
    delve: { lambda: c.lambda ?? defaults.delve.lambda, sigma: Number(a.sigma), replicas: Number(a.replicas), margin: Number(a.margin) },
    onProgress: (p) => {
      if (p.step % 100 === 0) console.error(`[${c.label}] epoch ${p.epoch} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(4)} ${p.samplesPerSec.toFixed(0)}/s`);
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const row: Record<string, unknown> = { label: c.label, strategy: c.strategy, lambda: c.lambda, accuracy: trained.testAccuracy, trainSeconds, samplesPerSec: trained.samplesPerSec, history: trained.history, score: rPerLayer(trained.params, key) };
  console.error(`[${c.label}] accuracy ${(trained.testAccuracy * 100).toFixed(2)}% in ${trainSeconds.toFixed(0)} s`);
  if (c.strategy !== 'none') {
    row.steepness = { sigma1: await steepness(trained.params, 1), sigma3: await steepness(trained.params, 3) };
    console.error(`[${c.label}] valley: test-loss rise ${JSON.stringify(row.steepness)}`);
    const ft = await fineTune(trained.params, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, epochs: attackEpochs });
    row.fineTuneLr01 = ft;
    console.error(`[${c.label}] fine-tune lr 0.1 x${attackEpochs}: r ${ft.final.r.toFixed(3)} acc ${(ft.accuracy * 100).toFixed(2)}%`);
    const noisy = addNoise(trained.params, 0.5, 3);
    const noiseRow = { before: rPerLayer(noisy, key), accuracyNoisy: await accuracy(noisy) };
    const healed = await fineTune(noisy, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, epochs: 1 });
    row.noiseThenFineTune = { ...noiseRow, after: healed.final, accuracyAfter: healed.accuracy, trace: healed.trace };
    console.error(`[${c.label}] noise 0.5σ: r ${noiseRow.before.r.toFixed(3)} → fine-tune: r ${healed.final.r.toFixed(3)} acc ${(healed.accuracy * 100).toFixed(2)}%`);
    if (fashion) {
      const rep = await fineTune(trained.params, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, epochs: 1, data: fashion.train, testData: fashion.test });
      row.fashion = rep;
      console.error(`[${c.label}] Fashion-MNIST fine-tune: r ${rep.final.r.toFixed(3)} acc(fashion) ${(rep.accuracy * 100).toFixed(2)}%`);
    }
  }
  results.push(row);
  mkdirSync(dirname(a.out!), { recursive: true });
  writeFileSync(a.out!, JSON.stringify({ settings: { limit, epochs, attackEpochs, every, sigma: Number(a.sigma), replicas: Number(a.replicas), backend: engine.backend, threads: engine.threads, n: key.values.length }, results }, null, 2));
}
await engine.dispose();
