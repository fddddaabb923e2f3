/**
 * Evaluates the models of embedding-train.ts: accuracy, whether the marked weights stand out (two-sample
 * KS per layer, marked against the rest), the valley (test-loss rise when the marked weights move), and
 * the score after the attacks that removed the paper-style mark — low-rank compression, re-initialising
 * and retraining layers, long fine-tuning — with the three ways of combining layer evidence side by side.
 * Writes <models>/<dir>/eval.json per model and prints a summary table (mean ± sd over seeds).
 *
 *   npx tsx scripts/experiments/embedding-eval.ts --models .tmp/embedding [--only floor64-at25] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttack } from '../../src/attacks/index.js';
import { trainerFor } from '../../src/attacks/pipeline.js';
import { getArchitecture } from '../../src/core/architectures.js';
import { extractValues } from '../../src/core/extract.js';
import { parseKey } from '../../src/core/keygen.js';
import { layerOfTensor } from '../../src/core/keyLayers.js';
import type { ParamSet } from '../../src/core/paramSet.js';
import { scoreAgainstKey, type Combination } from '../../src/core/score.js';
import { ksTwoSample } from '../../src/core/stats.js';
import type { WatermarkKey } from '../../src/core/watermarkKey.js';
import { gaussianSource } from '../../src/core/locking.js';
import { loadDataset } from '../../src/data/datasets.js';
import { evaluateAccuracy } from '../../src/eval/accuracy.js';
import { readModel } from '../../src/formats/index.js';
import { createGradientEngine } from '../../src/training/engine.js';

const { values: a } = parseArgs({ options: { models: { type: 'string', default: '.tmp/embedding' }, only: { type: 'string' }, threads: { type: 'string', default: '2' }, force: { type: 'boolean' }, attacks: { type: 'string' } } });
const arch = getArchitecture('lenet5');
const test = loadDataset('mnist', 'test');
const engine = await createGradientEngine(arch, { threads: Number(a.threads) });
const train = trainerFor({ engine, testLimit: 1000 });

export const ATTACKS: { label: string; attack: string; strength: number; options?: Record<string, string | number>; then?: { attack: string; strength: number } }[] = [
  { label: 'none', attack: 'none', strength: 0 },
  { label: 'SVD fc1 15 / conv2 15 / fc2 8', attack: 'low-rank', strength: 15, options: { ranks: 'fc1=15,conv2=15,fc2=8' } },
  { label: 'SVD fc1 10 / conv2 15 / fc2 8', attack: 'low-rank', strength: 10, options: { ranks: 'fc1=10,conv2=15,fc2=8' } },
  { label: 'SVD fc1 10 / conv2 10 / fc2 5', attack: 'low-rank', strength: 10, options: { ranks: 'fc1=10,conv2=10,fc2=5' } },
  { label: 'SVD every kernel rank 10 (conv1 too)', attack: 'low-rank', strength: 10 },
  { label: 'SVD every kernel rank 8', attack: 'low-rank', strength: 8 },
  { label: 'quantize 2 bits', attack: 'quantize', strength: 2 },
  { label: 'prune 90% global', attack: 'prune-global', strength: 0.9 },
  { label: 'noise 1.0 std', attack: 'noise', strength: 1 },
  { label: 'reinit head (fc2), 1 epoch, rest frozen', attack: 'reinit-head', strength: 1 },
  { label: 'reinit fc1+fc2, 1 epoch, conv frozen', attack: 'reinit-classifier', strength: 1 },
  { label: 'reinit fc1, fine-tune all 1 epoch', attack: 'reinit-hidden', strength: 1 },
  { label: 'fine-tune lr 0.1 mom 0.9, 2 epochs', attack: 'fine-tune', strength: 2 },
  { label: 'SVD fc1 15 / conv2 15 / fc2 8 → fine-tune 1 epoch', attack: 'low-rank', strength: 15, options: { ranks: 'fc1=15,conv2=15,fc2=8' }, then: { attack: 'fine-tune', strength: 1 } },
];

function load(dir: string): { params: ParamSet; key?: WatermarkKey; train: { config: { name: string }; seed: number; testAccuracy: number } } {
  const { params } = readModel([{ name: 'model.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 'model.safetensors'))) }]);
  const key = existsSync(join(dir, 'key.json')) ? parseKey(JSON.parse(readFileSync(join(dir, 'key.json'), 'utf8'))) : undefined;
  return { params: { arch: 'lenet5', tensors: params.tensors }, ...(key ? { key } : {}), train: JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')) };
}

/** Per layer: KS of the marked kernel weights against the layer's other kernel weights. */
function ks(set: ParamSet, key: WatermarkKey) {
  const out: Record<string, { n: number; d: number; p: number }> = {};
  key.tensors.forEach((kt, ti) => {
    if (!kt.name.endsWith('/kernel')) return;
    const data = set.tensors.find((t) => t.name === kt.name)!.data;
    const marked = new Set<number>();
    key.tensorIndex.forEach((t, i) => t === ti && marked.add(key.flatIndex[i]!));
    if (marked.size < 5) return;
    const inK: number[] = [];
    const rest: number[] = [];
    for (let i = 0; i < data.length; i++) (marked.has(i) ? inK : rest).push(data[i]!);
    const r = ksTwoSample(inK, rest);
    out[layerOfTensor(key, ti)] = { n: inK.length, d: r.d, p: r.pValue };
  });
  return out;
}

/** Mean test-loss rise when the marked weights get noise of σ × the RMS of their tensor's marked values (3 draws). */
async function valley(set: ParamSet, key: WatermarkKey, sigma: number): Promise<number> {
  const base = await engine.evaluate(set.tensors.map((t) => t.data), { x: test.x, y: test.y, n: test.n });
  const g = gaussianSource(23);
  const rms = key.tensors.map((_, ti) => {
    const v = key.values.filter((_, i) => key.tensorIndex[i] === ti);
    return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / Math.max(1, v.length));
  });
  let sum = 0;
  for (let k = 0; k < 3; k++) {
    const moved = set.tensors.map((t) => new Float32Array(t.data));
    key.tensorIndex.forEach((ti, i) => {
      const idx = set.tensors.findIndex((t) => t.name === key.tensors[ti]!.name);
      moved[idx]![key.flatIndex[i]!] = key.values[i]! + sigma * rms[ti]! * g();
    });
    sum += (await engine.evaluate(moved, { x: test.x, y: test.y, n: test.n })).loss - base.loss;
  }
  return sum / 3;
}

function scores(set: ParamSet, key: WatermarkKey) {
  const ext = extractValues(set, key);
  const out: Record<string, unknown> = {};
  for (const c of ['min', 'fisher', 'pooled'] as Combination[]) {
    const s = scoreAgainstKey(ext, key, { combination: c });
    out[c] = { log10p: s.log10p, decision: s.decision };
    if (c === 'min') Object.assign(out, { r: s.r, layers: Object.fromEntries(s.layers.map((l) => [l.layer, { r: +l.r.toFixed(4), n: l.n, log10p: +l.log10p.toFixed(2) }])) });
  }
  return out;
}

async function attack(set: ParamSet, spec: (typeof ATTACKS)[number], seed: number): Promise<ParamSet> {
  if (spec.attack === 'none') return set;
  const ctx = { seed, train, ...(spec.options ? { options: spec.options } : {}) };
  let out = (await getAttack(spec.attack).run(set, arch, spec.strength, ctx)).set;
  if (spec.then) out = (await getAttack(spec.then.attack).run(out, arch, spec.then.strength, { seed, train })).set;
  return out;
}

const dirs = readdirSync(a.models!).filter((d) => existsSync(join(a.models!, d, 'train.json')) && (!a.only || a.only.split(',').some((o) => d.startsWith(`${o}-s`))));
for (const d of dirs.sort()) {
  const dir = join(a.models!, d);
  if (!a.force && existsSync(join(dir, 'eval.json'))) continue;
  const m = load(dir);
  const started = performance.now();
  const result: Record<string, unknown> = { config: m.train.config.name, seed: m.train.seed, accuracy: (await evaluateAccuracy(m.params, arch, test)).accuracy };
  if (m.key) {
    result.ks = ks(m.params, m.key);
    result.valley = { sigma1: await valley(m.params, m.key, 1), sigma3: await valley(m.params, m.key, 3) };
    const attacks: Record<string, unknown> = {};
    // --attacks 0,1,12: a subset of ATTACKS by index (the delve sweep uses the cheaper ones)
    const chosen = a.attacks ? a.attacks.split(',').map((i) => ATTACKS[Number(i)]!) : ATTACKS;
    for (const spec of chosen) {
      const t0 = performance.now();
      const attacked = await attack(m.params, spec, m.train.seed * 101);
      attacks[spec.label] = { accuracy: (await evaluateAccuracy(attacked, arch, test)).accuracy, ...scores(attacked, m.key), seconds: (performance.now() - t0) / 1000 };
      console.error(`${d}: ${spec.label}: ${JSON.stringify(attacks[spec.label]).slice(0, 160)}`);
    }
    result.attacks = attacks;
  }
  result.seconds = (performance.now() - started) / 1000;
  writeFileSync(join(dir, 'eval.json'), JSON.stringify(result, null, 1));
}
await engine.dispose();
