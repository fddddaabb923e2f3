/**
 * Where one training step's time goes on the onnxruntime engine: the architecture's training graph
 * (src/training/onnxGraph.ts) run a few times on random data with onnxruntime's profiler on, the last
 * run's kernel times summed per op type and per op and input shapes. For deciding what to rewrite in
 * the graph; not a speed figure (bench/cifar-speed.ts is, against PyTorch).
 *
 *   npx tsx bench/step-profile.ts [--arch resnet32] [--batch 128] [--threads 2] [--top 20]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { getArchitecture } from '../src/core/architectures.js';
import { initParams } from '../src/core/init.js';
import { trainingFeeds } from '../src/training/onnxEngine.js';
import { trainingGraph } from '../src/training/onnxGraph.js';

interface ProfileEvent {
  readonly cat?: string;
  readonly name: string;
  readonly ts: number;
  readonly dur: number;
  readonly args?: { readonly op_name?: string; readonly input_type_shape?: readonly Record<string, number[]>[] };
}

export interface StepProfile {
  readonly stepMs: number[];
  readonly kernelMs: number;
  readonly byOp: { op: string; ms: number; nodes: number }[];
  readonly byShape: { op: string; shapes: string; ms: number; nodes: number }[];
}

export async function profileStep(o: { arch?: string; batch?: number; threads?: number; runs?: number } = {}): Promise<StepProfile> {
  const arch = getArchitecture(o.arch ?? 'resnet32');
  const n = o.batch ?? 128;
  const dir = mkdtempSync(join(tmpdir(), 'wm-step-profile-'));
  try {
    const graph = trainingGraph(arch);
    const session = await ort.InferenceSession.create(graph.model, {
      intraOpNumThreads: o.threads ?? 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      enableProfiling: true, profileFilePrefix: join(dir, 'step'),
    });
    const [h, w, c] = arch.inputShape;
    const x = Float32Array.from({ length: n * h * w * c }, () => Math.random());
    const y = Uint8Array.from({ length: n }, (_, b) => b % arch.classes);
    const feeds = trainingFeeds(arch, graph, initParams(arch, 1), { x, y, n, seed: 1 });
    const stepMs: number[] = [];
    for (let i = 0; i < (o.runs ?? 4); i++) {
      const t0 = performance.now();
      await session.run(feeds);
      stepMs.push(performance.now() - t0);
    }
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
    const last = runs[runs.length - 1]!;
    const ops = new Map<string, { ms: number; nodes: number }>();
    const shapes = new Map<string, { op: string; shapes: string; ms: number; nodes: number }>();
    let kernel = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last.ts || e.ts > last.ts + last.dur) continue;
      const op = e.args?.op_name ?? '?';
      const ms = e.dur / 1000;
      kernel += ms;
      const byOp = ops.get(op) ?? { ms: 0, nodes: 0 };
      ops.set(op, { ms: byOp.ms + ms, nodes: byOp.nodes + 1 });
      const s = JSON.stringify((e.args?.input_type_shape ?? []).map((x) => Object.values(x)[0]));
      const k = `${op} ${s}`;
      const byShape = shapes.get(k) ?? { op, shapes: s, ms: 0, nodes: 0 };
      shapes.set(k, { ...byShape, ms: byShape.ms + ms, nodes: byShape.nodes + 1 });
    }
    return {
      stepMs, kernelMs: kernel,
      byOp: [...ops].map(([op, v]) => ({ op, ...v })).sort((a, b) => b.ms - a.ms),
      byShape: [...shapes.values()].sort((a, b) => b.ms - a.ms),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, top: { type: 'string' } } });
  const p = await profileStep({ ...(values.arch ? { arch: values.arch } : {}), ...(values.batch ? { batch: Number(values.batch) } : {}), ...(values.threads ? { threads: Number(values.threads) } : {}) });
  const top = Number(values.top ?? 20);
  console.log(`steps ${p.stepMs.map((t) => t.toFixed(0)).join(', ')} ms (the first ones warm up); kernels of the last ${p.kernelMs.toFixed(1)} ms\n`);
  console.log('| op | ms | share | nodes |\n|---|---|---|---|');
  for (const r of p.byOp.slice(0, top)) console.log(`| ${r.op} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / p.kernelMs).toFixed(1)}% | ${r.nodes} |`);
  console.log('\n| op | input shapes | ms | nodes | ms per node |\n|---|---|---|---|---|');
  for (const r of p.byShape.slice(0, top)) console.log(`| ${r.op} | ${r.shapes} | ${r.ms.toFixed(2)} | ${r.nodes} | ${(r.ms / r.nodes).toFixed(3)} |`);
}
