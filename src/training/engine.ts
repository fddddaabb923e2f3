/**
 * The gradient engine: the only thing the trainer sees. Parameters and gradients travel as plain
 * Float32Arrays in canonical order (paramSpecs), so the trainer keeps the weights in JS and does its
 * updates and locking exactly; the engine only computes losses, gradients and logits.
 *
 * Two implementations. The default ('auto') runs the architecture's training step as an ONNX graph on
 * onnxruntime's native CPU kernels (onnxEngine.ts; measured 3-5x faster than tfjs wasm on every
 * registered network, docs/benchmarks.md). The tfjs engine (graph.ts) stays as the fallback when the
 * native binary cannot load and on request (`backend: 'wasm'`, ...): `threads: 1` computes in this
 * thread; more threads run data-parallel in worker_threads, each with its own tfjs wasm instance
 * (enginePool.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { getArchitecture, paramSpecs, type Architecture } from '../core/architectures.js';
import { initBackend, type BackendPreference } from './backend.js';
import { lossAndGradients, predictLogits } from './graph.js';
import { softmaxCrossEntropy } from './ops.js';

export interface Batch {
  /** n*H*W*C values, NHWC, already normalised. */
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly n: number;
  /** Seeds dropout's masks for this step (a hash of it, the layer and the sample's place in the batch). */
  readonly seed?: number;
  /** Place of sample 0 in the step's whole batch, when this is a data-parallel worker's shard. */
  readonly offset?: number;
}

export interface LossAndGrads {
  /** Mean cross-entropy over the batch. */
  loss: number;
  correct: number;
  /** Canonical param order, same shapes. */
  grads: Float32Array[];
}

export interface GradientEngine {
  readonly backend: string;
  readonly threads: number;
  readonly arch: Architecture;
  lossAndGrads(params: readonly Float32Array[], batch: Batch): Promise<LossAndGrads>;
  /** Same batch, several parameter vectors (delve's replicas): lets a pool spread them across threads. */
  lossAndGradsMany(paramsList: readonly (readonly Float32Array[])[], batch: Batch): Promise<LossAndGrads[]>;
  evaluate(params: readonly Float32Array[], data: Batch, batchSize?: number): Promise<{ loss: number; accuracy: number }>;
  /** Logits, n*classes. */
  predict(params: readonly Float32Array[], x: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** A tfjs backend, or onnxruntime's native CPU kernels (onnxEngine.ts). */
export type EnginePreference = BackendPreference | 'onnxruntime';

export interface EngineOptions {
  /**
   * tfjs: 1 computes in this thread; more run data-parallel in worker threads. onnxruntime: its
   * intra-op threads. Default: 2 when the machine has 2+ cores (1 on native TensorFlow, which threads by itself).
   */
  readonly threads?: number;
  readonly backend?: EnginePreference;
}

/** Evaluation chunk: large enough to keep XNNPACK busy, small enough to bound memory. */
export const defaultEvalBatch = 500;

export function resolveArchitecture(arch: string | Architecture): Architecture {
  return typeof arch === 'string' ? getArchitecture(arch) : arch;
}

/**
 * Starts an engine for an architecture.
 * @throws Error for an unknown architecture, an unavailable backend or threads < 1.
 */
export async function createGradientEngine(arch: string | Architecture, opts: EngineOptions = {}): Promise<GradientEngine> {
  const a = resolveArchitecture(arch);
  const backend = opts.backend ?? 'auto';
  if (!enginePreferences.includes(backend)) throw new Error(`Unknown backend '${String(backend)}'. Supported backends are: ${enginePreferences.join(', ')}.`);
  const threads = opts.threads ?? (await defaultThreads(backend));
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer; found ${threads}.`);
  if (backend === 'onnxruntime' || backend === 'auto') {
    try {
      const { createOnnxEngine } = await import('./onnxEngine.js');
      return await createOnnxEngine(a, threads);
    } catch (e) {
      // 'auto' falls back to tfjs when the native binary cannot load on this platform.
      if (backend === 'onnxruntime') throw e;
    }
  }
  const tfjs = backend === 'auto' ? 'auto' : backend;
  if (threads === 1) return createLocalEngine(a, tfjs);
  const { createPoolEngine } = await import('./enginePool.js');
  return createPoolEngine(a, threads, tfjs);
}

export const enginePreferences: readonly EnginePreference[] = ['auto', 'onnxruntime', 'tensorflow', 'wasm', 'cpu'];

async function defaultThreads(backend: EnginePreference): Promise<number> {
  const { availableParallelism } = await import('node:os');
  if (backend === 'onnxruntime' || backend === 'auto') return Math.min(2, availableParallelism());
  // Native TensorFlow threads by itself; the JS backends use one core each, so workers add the others.
  if (backend === 'tensorflow' || backend === 'cpu') return 1;
  if ((await initBackend(backend)) !== 'wasm') return 1;
  return Math.min(2, availableParallelism());
}

export function checkBatch(arch: Architecture, batch: Batch): void {
  const [h, w, c] = arch.inputShape;
  if (batch.n < 1) throw new Error(`A batch needs at least one sample; found n = ${batch.n}.`);
  if (batch.x.length !== batch.n * h * w * c) {
    throw new Error(`Batch x has ${batch.x.length} values; ${batch.n} samples of ${h}x${w}x${c} need ${batch.n * h * w * c}.`);
  }
  if (batch.y.length < batch.n) throw new Error(`Batch y has ${batch.y.length} labels for ${batch.n} samples.`);
}

export function checkParamArrays(arch: Architecture, params: readonly Float32Array[]): void {
  const specs = paramSpecs(arch);
  if (params.length !== specs.length) {
    throw new Error(`Architecture '${arch.name}' has ${specs.length} parameter tensors (${specs.map((s) => s.name).join(', ')}); found ${params.length}.`);
  }
  specs.forEach((s, i) => {
    const want = s.shape.reduce((x, y) => x * y, 1);
    if (params[i]!.length !== want) throw new Error(`Parameter '${s.name}' needs ${want} values (shape [${s.shape.join(', ')}]); found ${params[i]!.length}.`);
  });
}

/**
 * The in-thread engine; workers run one each. Synchronous at heart (tfjs wasm computes eagerly); the
 * *Sync methods assume this engine's backend is tfjs's active one, as it is in a worker.
 */
export interface LocalEngine extends GradientEngine {
  lossAndGradsManySync(paramsList: readonly (readonly Float32Array[])[], batch: Batch): LossAndGrads[];
  predictSync(params: readonly Float32Array[], x: Float32Array, n: number): Float32Array;
}

export async function createLocalEngine(arch: Architecture, backend: BackendPreference): Promise<LocalEngine> {
  const running = await initBackend(backend);
  const specs = paramSpecs(arch);
  const [h, w, c] = arch.inputShape;
  const upload = (params: readonly Float32Array[]) => params.map((p, i) => tf.tensor(p, [...specs[i]!.shape], 'float32'));

  const lossAndGradsManySync = (paramsList: readonly (readonly Float32Array[])[], batch: Batch): LossAndGrads[] => {
    paramsList.forEach((p) => checkParamArrays(arch, p));
    checkBatch(arch, batch);
    const out: LossAndGrads[] = [];
    // The batch's patches for the first conv are the same under every parameter vector: computed once.
    const inputCols = new Map<tf.Tensor, tf.Tensor2D>();
    try {
      // tidy walks whatever its function returns element by element: return nothing, hand typed arrays out by closure.
      tf.tidy(() => {
        const x = tf.tensor4d(batch.x, [batch.n, h, w, c]);
        const labels = batch.y.subarray(0, batch.n);
        for (const params of paramsList) {
          tf.tidy(() => {
            const r = lossAndGradients(arch, upload(params), x, labels, { inputCols, seed: batch.seed ?? 0, sampleOffset: batch.offset ?? 0 });
            out.push({ loss: r.loss, correct: r.correct, grads: r.grads.map((g) => g.dataSync() as Float32Array) });
          });
        }
      });
    } finally {
      for (const t of inputCols.values()) t.dispose();
    }
    return out;
  };
  const predictSync = (params: readonly Float32Array[], x: Float32Array, n: number): Float32Array => {
    checkParamArrays(arch, params);
    if (x.length !== n * h * w * c) throw new Error(`predict: x has ${x.length} values; ${n} samples of ${h}x${w}x${c} need ${n * h * w * c}.`);
    let logits: Float32Array | undefined;
    tf.tidy(() => {
      logits = predictLogits(arch, upload(params), tf.tensor4d(x, [n, h, w, c])).dataSync() as Float32Array;
    });
    return logits!;
  };

  // Something else in this thread (a test, another engine) may have switched tfjs's global backend.
  const onOwnBackend = async <T>(f: () => T | Promise<T>): Promise<T> => {
    if (tf.getBackend() !== running) await tf.setBackend(running);
    return f();
  };

  return {
    backend: running,
    threads: 1,
    arch,
    lossAndGradsManySync,
    predictSync,
    lossAndGrads: (params, batch) => onOwnBackend(() => lossAndGradsManySync([params], batch)[0]!),
    lossAndGradsMany: (paramsList, batch) => onOwnBackend(() => lossAndGradsManySync(paramsList, batch)),
    predict: (params, x, n) => onOwnBackend(() => predictSync(params, x, n)),
    evaluate: (params, data, batchSize = defaultEvalBatch) => onOwnBackend(() => evaluateWith((x, n) => predictSync(params, x, n), arch, data, batchSize)),
    dispose: async () => {},
  };
}

/** Mean loss and accuracy over a data set, chunk by chunk through a logits function. */
export async function evaluateWith(
  logitsOf: (x: Float32Array, n: number) => Float32Array | Promise<Float32Array>,
  arch: Architecture,
  data: Batch,
  batchSize: number,
): Promise<{ loss: number; accuracy: number }> {
  checkBatch(arch, data);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer; found ${batchSize}.`);
  const per = arch.inputShape[0] * arch.inputShape[1] * arch.inputShape[2];
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.n; start += batchSize) {
    const n = Math.min(batchSize, data.n - start);
    const logits = await logitsOf(data.x.subarray(start * per, (start + n) * per), n);
    const ce = softmaxCrossEntropy(logits, data.y.subarray(start, start + n), n, arch.classes);
    lossSum += ce.loss * n;
    correct += ce.correct;
  }
  return { loss: lossSum / data.n, accuracy: correct / data.n };
}
