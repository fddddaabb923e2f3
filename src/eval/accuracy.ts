/**
 * Task accuracy of any param set, through onnxruntime-node: the param set is exported in memory with
 * writeOnnx and run in batches. No tfjs on this path, so verification and attack reports can measure
 * accuracy in a process that never loads TensorFlow.
 *
 * It runs the standard export (the one licensees download: NCHW input, PyTorch layouts), feeding it
 * NCHW batches transposed from our NHWC data, so every accuracy figure also exercises that export.
 */
import * as ort from 'onnxruntime-node';
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import { ONNX_INPUT, ONNX_OUTPUT, onnxInputShape, writeOnnx } from '../formats/onnx/write.js';

/** Labelled samples, NHWC and normalised as the model was trained (loadDataset's shape). */
export interface LabelledData {
  readonly n: number;
  readonly x: Float32Array;
  readonly y: Uint8Array;
}

export interface EvalOptions {
  /** Samples per run; 500 keeps the activations of LeNet5 around 25 MB. */
  readonly batchSize?: number;
  /** onnxruntime intra-op threads; 2 by default, the cores these machines share. */
  readonly threads?: number;
  /** Called after each batch with the samples done so far. */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface AccuracyResult {
  readonly accuracy: number;
  readonly n: number;
  readonly correct: number;
  readonly millis: number;
}

const DEFAULT_BATCH = 500;
const DEFAULT_THREADS = 2;

/** An onnxruntime session for the standard export of a param set of `arch` (input NCHW). The caller releases it. */
export async function createSession(set: ParamSet, arch: Architecture, threads = DEFAULT_THREADS): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(writeOnnx(set, arch), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

/**
 * Logits [n, classes] of the param set on `x` (n samples of arch.inputShape, NHWC).
 * @throws Error when x's length is not n whole samples, or the run is aborted.
 */
export async function predictLogits(set: ParamSet, arch: Architecture, x: Float32Array, opts: EvalOptions = {}): Promise<Float32Array> {
  const sample = arch.inputShape[0] * arch.inputShape[1] * arch.inputShape[2];
  if (x.length % sample !== 0) throw new Error(`predictLogits: ${x.length} values are not whole samples of ${sample}`);
  const n = x.length / sample;
  const batch = Math.max(1, Math.floor(opts.batchSize ?? DEFAULT_BATCH));
  const out = new Float32Array(n * arch.classes);
  const sampleDims = onnxInputShape(arch).slice(1) as number[]; // [C, H, W]
  const session = await createSession(set, arch, opts.threads);
  try {
    for (let start = 0; start < n; start += batch) {
      opts.signal?.throwIfAborted();
      const b = Math.min(batch, n - start);
      const input = new ort.Tensor('float32', nhwcToNchw(x.subarray(start * sample, (start + b) * sample), b, arch.inputShape), [b, ...sampleDims]);
      const result = await session.run({ [ONNX_INPUT]: input });
      const logits = result[ONNX_OUTPUT]!;
      out.set(logits.data as Float32Array, start * arch.classes);
      logits.dispose();
      opts.onProgress?.(start + b, n);
    }
  } finally {
    await session.release();
  }
  return out;
}

/** n samples [H, W, C] → [C, H, W]; with one channel the bytes are the same, so no copy. */
export function nhwcToNchw(x: Float32Array, n: number, [h, w, c]: readonly [number, number, number]): Float32Array {
  if (c === 1) return x;
  const out = new Float32Array(x.length);
  const hw = h * w;
  for (let s = 0; s < n; s++) {
    const base = s * hw * c;
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) out[base + ch * hw + p] = x[base + p * c + ch]!;
  }
  return out;
}

/**
 * Fraction of samples whose largest logit is the label. @throws Error when x and y disagree with n.
 */
export async function evaluateAccuracy(set: ParamSet, arch: Architecture, data: LabelledData, opts: EvalOptions = {}): Promise<AccuracyResult> {
  const sample = arch.inputShape[0] * arch.inputShape[1] * arch.inputShape[2];
  if (data.x.length !== data.n * sample || data.y.length !== data.n) {
    throw new Error(`evaluateAccuracy: n = ${data.n} but x holds ${data.x.length / sample} samples and y ${data.y.length} labels`);
  }
  const started = performance.now();
  const logits = await predictLogits(set, arch, data.x, opts);
  let correct = 0;
  const k = arch.classes;
  for (let i = 0; i < data.n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (logits[i * k + c]! > logits[i * k + best]!) best = c;
    if (best === data.y[i]) correct++;
  }
  return { accuracy: data.n === 0 ? 0 : correct / data.n, n: data.n, correct, millis: performance.now() - started };
}
