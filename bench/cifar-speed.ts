/**
 * ResNet-32 and ALL-CNN-C training speed at batch 128 (samples/s of lossAndGrads + an SGD momentum
 * update on random CIFAR-shaped data), on both engines (onnxruntime, the default, and the tfjs wasm
 * fallback), against PyTorch CPU on the same work, ../shared/anchors/
 * torch_cifar.py (Debian python3-torch, same batch, optimizer and threads). PyTorch's own figure
 * swings 2-3x between runs on these shared machines, so windows are interleaved — ours, theirs, ours,
 * … — and the ratio is reported per pair, with its median.
 *
 *   npx tsx bench/cifar-speed.ts [--pairs 3] [--steps 10] [--threads 2]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initParams } from '../src/core/init.js';
import { createGradientEngine, type Batch, type GradientEngine } from '../src/training/engine.js';

const batchSize = 128;
const nets = ['resnet32', 'allcnnc'] as const;
type Net = (typeof nets)[number];
const backends = ['onnxruntime', 'wasm'] as const;
type Backend = (typeof backends)[number];
const anchorScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'anchors', 'torch_cifar.py');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Random data as the anchor uses (speed only): normal pixels, uniform labels. */
function randomBatch(seed: number): Batch {
  let s = seed >>> 0;
  const u = () => ((s = (s + 0x6d2b79f5) >>> 0), ((Math.imul(s ^ (s >>> 15), s | 1) >>> 0) + 0.5) / 4294967296);
  const x = Float32Array.from({ length: batchSize * 3072 }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return { x, y: Uint8Array.from({ length: batchSize }, () => Math.floor(u() * 10)), n: batchSize, seed };
}

/** samples/s over `steps` steps of gradient + SGD with momentum 0.9 and weight decay 5e-4, as the anchor's optimizer. */
async function ours(engine: GradientEngine, params: Float32Array[], velocity: Float32Array[], steps: number): Promise<number> {
  const batch = randomBatch(steps);
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) {
    const { grads } = await engine.lossAndGrads(params, batch);
    params.forEach((p, i) => {
      const g = grads[i]!;
      const v = velocity[i]!;
      for (let j = 0; j < p.length; j++) {
        v[j] = 0.9 * v[j]! + g[j]! + 5e-4 * p[j]!;
        p[j]! -= 0.05 * v[j]!;
      }
    });
  }
  return (steps * batchSize * 1000) / (performance.now() - t0);
}

/** One run of the anchor (it times both nets), or why it could not run. */
function theirs(steps: number, threads: number): Record<Net, number> | { missing: string } {
  if (!existsSync(anchorScript)) return { missing: `${anchorScript} not found` };
  const r = spawnSync('/usr/bin/python3', [anchorScript, String(steps)], { env: { ...process.env, THREADS: String(threads) }, encoding: 'utf8', timeout: 900_000 });
  const out: Partial<Record<Net, number>> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^(resnet32|allcnnc): params \d+, ([\d.]+) samples\/s/.exec(line);
    if (m) out[m[1] as Net] = Number(m[2]);
  }
  if (out.resnet32 === undefined || out.allcnnc === undefined) {
    const why = (r.stderr ?? '').trim().split('\n').pop() ?? r.error?.message ?? 'no output';
    return { missing: `PyTorch anchor did not run (${why}); it needs: apt-get install -y python3-torch libopenblas0-pthread` };
  }
  return out as Record<Net, number>;
}

export async function runCifarSpeed(opts: { pairs?: number; steps?: number; threads?: number; log?: (l: string) => void } = {}): Promise<void> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const pairs = opts.pairs ?? 3;
  const steps = opts.steps ?? 10;
  const threads = opts.threads ?? 2;
  const loadBefore = loadavg();
  const engines = new Map<string, { engine: GradientEngine; params: Float32Array[]; velocity: Float32Array[] }>();
  for (const net of nets) {
    for (const backend of backends) {
      const engine = await createGradientEngine(net, { threads, backend });
      const params = initParams(net, 1);
      const velocity = params.map((p) => new Float32Array(p.length));
      await ours(engine, params, velocity, 1); // warm-up: compiles, grows the heaps and arenas
      engines.set(`${net}/${backend}`, { engine, params, velocity });
    }
  }
  const rows: { pair: number; net: Net; ours: Record<Backend, number>; theirs?: number }[] = [];
  let missing: string | undefined;
  for (let p = 1; p <= pairs; p++) {
    const mine = new Map<Net, Record<Backend, number>>();
    for (const net of nets) {
      const r = {} as Record<Backend, number>;
      for (const backend of backends) {
        const e = engines.get(`${net}/${backend}`)!;
        r[backend] = await ours(e.engine, e.params, e.velocity, steps);
      }
      mine.set(net, r);
    }
    const t = theirs(steps, threads);
    if ('missing' in t) missing = t.missing;
    for (const net of nets) rows.push({ pair: p, net, ours: mine.get(net)!, ...('missing' in t ? {} : { theirs: t[net] }) });
    log(`pair ${p}: ${nets.map((n) => `${n} ${backends.map((b) => `${b} ${mine.get(n)![b].toFixed(1)}`).join(' ')}${'missing' in t ? '' : ` pytorch ${t[n].toFixed(1)}`}`).join('; ')}`);
  }
  for (const e of engines.values()) await e.engine.dispose();
  const loadAfter = loadavg();
  const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : 'n/a');
  log(`\nCIFAR-10 nets, batch ${batchSize}, SGD momentum, ${threads} threads each side, samples/s (${pairs} interleaved pairs of ${steps} steps)`);
  log('| net | pair | weightmark (onnxruntime) | weightmark (tfjs wasm) | PyTorch CPU | ratio onnxruntime / PyTorch | ratio wasm / PyTorch |');
  log('|---|---|---|---|---|---|---|');
  for (const r of rows) log(`| ${r.net} | ${r.pair} | ${r.ours.onnxruntime.toFixed(1)} | ${r.ours.wasm.toFixed(1)} | ${r.theirs?.toFixed(1) ?? 'n/a'} | ${ratio(r.ours.onnxruntime, r.theirs)} | ${ratio(r.ours.wasm, r.theirs)} |`);
  for (const net of nets) {
    const mine = rows.filter((r) => r.net === net);
    const paired = mine.filter((r) => r.theirs);
    const med = (f: (r: (typeof rows)[number]) => number, xs = mine) => median(xs.map(f)).toFixed(1);
    log(`| ${net} | median | ${med((r) => r.ours.onnxruntime)} | ${med((r) => r.ours.wasm)} | ${paired.length ? med((r) => r.theirs!, paired) : 'n/a'} | ${paired.length ? median(paired.map((r) => r.ours.onnxruntime / r.theirs!)).toFixed(2) : 'n/a'} | ${paired.length ? median(paired.map((r) => r.ours.wasm / r.theirs!)).toFixed(2) : 'n/a'} |`);
  }
  if (missing) log(`PyTorch anchor missing: ${missing}`);
  log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (2 cores, shared)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const pairs = arg('--pairs');
  const steps = arg('--steps');
  const threads = arg('--threads');
  await runCifarSpeed({ ...(pairs ? { pairs } : {}), ...(steps ? { steps } : {}), ...(threads ? { threads } : {}) });
}
