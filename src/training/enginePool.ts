/**
 * The engine spread over worker threads. The work of a request (parameter vectors x batch samples)
 * is cut evenly across the workers (planTasks); a vector whose batch was split gets the shard results
 * averaged weighted by their sample counts, which is the gradient of the whole batch's mean loss.
 * Each worker has its own tfjs wasm instance, so a 2-core machine trains on both cores.
 */
import { Worker } from 'node:worker_threads';
import type { Architecture } from '../core/architectures.js';
import { paramSpecs } from '../core/architectures.js';
import type { BackendPreference } from './backend.js';
import { checkBatch, defaultEvalBatch, evaluateWith, type Batch, type GradientEngine, type LossAndGrads } from './engine.js';

/** One worker's share of a gradient request: samples [start, start+n) of the batch under one parameter vector. */
export interface GradTask {
  readonly vector: number;
  readonly start: number;
  readonly n: number;
}

type PoolWork =
  | { kind: 'grads'; arena: SharedArrayBuffer; offsets: number[][]; lengths: number[]; batch: Batch; tasks: GradTask[] }
  | { kind: 'logits'; arena: SharedArrayBuffer; offsets: number[][]; lengths: number[]; x: Float32Array; n: number };
export type PoolRequest = PoolWork & { id: number };

export type PoolReply =
  | { id: number; kind: 'ready'; backend: string }
  /** One result per task, in task order; each a mean over the task's samples. */
  | { id: number; kind: 'grads'; results: LossAndGrads[] }
  | { id: number; kind: 'logits'; logits: Float32Array }
  | { id: number; kind: 'error'; message: string };

interface Pending {
  resolve(reply: PoolReply): void;
  reject(e: Error): void;
}

/** A worker with its in-flight requests, so a crash rejects exactly those (never hangs them). */
class EngineWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing = false;
  readonly ready: Promise<string>;

  constructor(arch: Architecture, backend: BackendPreference) {
    const here = import.meta.url;
    const entry = new URL(`./engineWorker${here.endsWith('.ts') ? '.ts' : '.js'}`, here).href;
    this.worker = new Worker(new URL('./engineWorkerBootstrap.mjs', here), { workerData: { arch, backend, entry }, execArgv: [] });
    this.ready = new Promise<string>((resolve, reject) => {
      this.pending.set(-1, {
        resolve: (r) => (r.kind === 'ready' ? resolve(r.backend) : reject(new Error(`engine worker: unexpected first message '${r.kind}'`))),
        reject,
      });
    });
    this.worker.on('message', (reply: PoolReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      this.idleUnlessBusy();
      if (reply.kind === 'error') p.reject(new Error(reply.message));
      else p.resolve(reply);
    });
    this.worker.on('error', (e) => this.fail(new Error(`engine worker failed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`engine worker exited unexpectedly with code ${code}`));
    });
  }

  /** An idle worker must not keep the process alive (a caller that forgets dispose still exits); a busy one must. */
  private idleUnlessBusy(): void {
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.idleUnlessBusy();
  }

  request(req: PoolWork): Promise<PoolReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<PoolReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...req, id });
    });
  }

  async terminate(): Promise<void> {
    this.closing = true;
    this.fail(new Error('engine disposed'));
    await this.worker.terminate();
  }
}

/** Parameter vectors laid out once in shared memory for all workers. */
class ParamArena {
  readonly lengths: number[];
  private readonly perVector: number;

  constructor(arch: Architecture) {
    this.lengths = paramSpecs(arch).map((s) => s.shape.reduce((a, b) => a * b, 1));
    this.perVector = this.lengths.reduce((a, b) => a + b, 0);
  }

  /**
   * Copies the vectors into a fresh buffer (never one a worker might still read, e.g. after another
   * worker's failure); returns it and each tensor's offset in floats.
   */
  write(vectors: readonly (readonly Float32Array[])[]): { arena: SharedArrayBuffer; offsets: number[][] } {
    const buffer = new SharedArrayBuffer(vectors.length * this.perVector * 4);
    const all = new Float32Array(buffer);
    let off = 0;
    const offsets = vectors.map((params) => {
      if (params.length !== this.lengths.length) throw new Error(`Expected ${this.lengths.length} parameter tensors; found ${params.length}.`);
      return params.map((p, i) => {
        if (p.length !== this.lengths[i]) throw new Error(`Parameter tensor ${i} needs ${this.lengths[i]} values; found ${p.length}.`);
        all.set(p, off);
        const at = off;
        off += p.length;
        return at;
      });
    });
    return { arena: buffer, offsets };
  }
}

/** Contiguous shards of n samples over up to k workers, none empty. */
function shards(n: number, k: number): { start: number; n: number }[] {
  const parts = Math.min(n, k);
  const out: { start: number; n: number }[] = [];
  for (let i = 0, start = 0; i < parts; i++) {
    const size = Math.floor(n / parts) + (i < n % parts ? 1 : 0);
    out.push({ start, n: size });
    start += size;
  }
  return out;
}

/**
 * Splits (vectors x n samples) of work evenly over the workers: lay the vectors' batches end to end
 * and cut the line into equal segments. One vector is a plain data-parallel split; delve's 1 + 4
 * vectors on 2 workers give each two whole vectors at full batch (the most efficient size) and half
 * of the fifth.
 */
export function planTasks(vectors: number, n: number, workers: number): GradTask[][] {
  const total = vectors * n;
  const plans: GradTask[][] = [];
  let pos = 0;
  for (let w = 0; w < workers; w++) {
    const end = Math.round((total * (w + 1)) / workers);
    const tasks: GradTask[] = [];
    while (pos < end) {
      const vector = Math.floor(pos / n);
      const start = pos % n;
      const take = Math.min(n - start, end - pos);
      tasks.push({ vector, start, n: take });
      pos += take;
    }
    if (tasks.length > 0) plans.push(tasks);
  }
  return plans;
}

/** Mean over the batch from per-task means, weighted by each task's share of the samples. */
function combine(vectors: number, n: number, plans: readonly GradTask[][], results: readonly LossAndGrads[][]): LossAndGrads[] {
  const parts: { task: GradTask; result: LossAndGrads }[][] = Array.from({ length: vectors }, () => []);
  plans.forEach((tasks, w) => tasks.forEach((task, t) => parts[task.vector]!.push({ task, result: results[w]![t]! })));
  return parts.map((ps) => {
    const [first, ...rest] = ps;
    if (rest.length === 0) return first!.result;
    // The shards' arrays were transferred to this thread: the first one becomes the sum, no new allocation.
    const w0 = first!.task.n / n;
    const grads = first!.result.grads;
    for (const g of grads) for (let j = 0; j < g.length; j++) g[j]! *= w0;
    let loss = w0 * first!.result.loss;
    let correct = first!.result.correct;
    for (const { task, result } of rest) {
      const weight = task.n / n;
      loss += weight * result.loss;
      correct += result.correct;
      result.grads.forEach((g, t) => {
        const out = grads[t]!;
        for (let j = 0; j < out.length; j++) out[j]! += weight * g[j]!;
      });
    }
    return { loss, correct, grads };
  });
}

export async function createPoolEngine(arch: Architecture, threads: number, backend: BackendPreference): Promise<GradientEngine> {
  const workers = Array.from({ length: threads }, () => new EngineWorker(arch, backend));
  let running: string;
  try {
    const names = await Promise.all(workers.map((w) => w.ready));
    running = names[0]!;
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  const arena = new ParamArena(arch);
  const [h, w, c] = arch.inputShape;
  const per = h * w * c;

  const lossAndGradsMany = async (paramsList: readonly (readonly Float32Array[])[], batch: Batch): Promise<LossAndGrads[]> => {
    checkBatch(arch, batch);
    if (paramsList.length === 0) return [];
    const { arena: buf, offsets } = arena.write(paramsList);
    const plans = planTasks(paramsList.length, batch.n, workers.length);
    // slice, not subarray: posting a view would clone its whole underlying buffer.
    const shared = { x: batch.x.slice(0, batch.n * per), y: batch.y.slice(0, batch.n), n: batch.n, seed: batch.seed ?? 0 };
    const replies = await Promise.all(plans.map((tasks, i) => workers[i]!.request({ kind: 'grads', arena: buf, offsets, lengths: arena.lengths, batch: shared, tasks })));
    const results = replies.map((r) => (r as Extract<PoolReply, { kind: 'grads' }>).results);
    return combine(paramsList.length, batch.n, plans, results);
  };

  const predict = async (params: readonly Float32Array[], x: Float32Array, n: number): Promise<Float32Array> => {
    if (x.length !== n * per) throw new Error(`predict: x has ${x.length} values; ${n} samples of ${h}x${w}x${c} need ${n * per}.`);
    const { arena: buf, offsets } = arena.write([params]);
    const parts = shards(n, workers.length);
    const replies = await Promise.all(
      parts.map((s, i) => workers[i]!.request({ kind: 'logits', arena: buf, offsets, lengths: arena.lengths, x: x.slice(s.start * per, (s.start + s.n) * per), n: s.n })),
    );
    const out = new Float32Array(n * arch.classes);
    replies.forEach((r, i) => out.set((r as Extract<PoolReply, { kind: 'logits' }>).logits, parts[i]!.start * arch.classes));
    return out;
  };

  return {
    backend: running,
    threads,
    arch,
    lossAndGradsMany,
    lossAndGrads: async (params, batch) => (await lossAndGradsMany([params], batch))[0]!,
    predict,
    evaluate: (params, data, batchSize = defaultEvalBatch) => evaluateWith((x, n) => predict(params, x, n), arch, data, batchSize),
    dispose: async () => {
      await Promise.all(workers.map((wk) => wk.terminate()));
    },
  };
}
