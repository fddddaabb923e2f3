/**
 * Runs an architecture's layer graph (src/core/architectures.ts) with the fast ops, so a new
 * architecture in the registry trains with no new code. Three routes over the same layers:
 * `predictLogits` (evaluation: batch norm from its running statistics, folded into the conv before it;
 * dropout off), `lossAndGradients` (training: the forward keeps what each layer's backward needs, then
 * the layers are walked backwards by hand, summing the gradients of a layer read twice, as the residual
 * stream is) and `forward` (differentiable tensors for tfjs autodiff, chains only).
 */
import * as tf from '@tensorflow/tfjs';
import { consumerCounts, layerInputs, paramSpecs, type Architecture, type BatchNormLayer, type Conv2dLayer, type Layer } from '../core/architectures.js';
import {
  conv2d, convBackward, convForward, convGradsFromDz, dense, denseBackward, denseForward, flatten, maxPool,
  maxPoolBackward, maxPoolForward, poolReluBackward, softmaxCrossEntropy, type ParamGrads,
} from './ops.js';
import { runEngineKernel } from './wasmKernels.js';
import { batchNormGrad, batchNormTrain, type NormForward } from './batchNorm.js';

/** Per architecture: each layer's inputs, consumers, first param index, and the parameter specs. */
interface Plan {
  readonly inputs: number[][];
  readonly consumers: number[];
  readonly param: number[];
  readonly specCount: number;
  /** Whether any parameter lies upstream of each layer's output (else its input gradient is useless). */
  readonly paramsUpstream: boolean[];
}

const plans = new WeakMap<Architecture, Plan>();

function planOf(arch: Architecture): Plan {
  let p = plans.get(arch);
  if (p) return p;
  const specs = paramSpecs(arch);
  const inputs = layerInputs(arch);
  const param: number[] = [];
  const paramsUpstream: boolean[] = [];
  arch.layers.forEach((layer, i) => {
    const name = 'name' in layer ? layer.name : undefined;
    param.push(name !== undefined ? specs.findIndex((s) => s.layer === name) : -1);
    paramsUpstream.push(param[i]! >= 0 || inputs[i]!.some((j) => j >= 0 && paramsUpstream[j]!));
  });
  p = { inputs, consumers: consumerCounts(arch), param, specCount: specs.length, paramsUpstream };
  plans.set(arch, p);
  return p;
}

/** Cheap on every step (the plan is cached); the names only when it fails. */
function checkParams(arch: Architecture, params: readonly tf.Tensor[]): void {
  if (params.length !== planOf(arch).specCount) {
    const specs = paramSpecs(arch);
    throw new Error(`Architecture '${arch.name}' has ${specs.length} parameter tensors (${specs.map((s) => s.name).join(', ')}); found ${params.length}.`);
  }
}

function rows(t: tf.Tensor): tf.Tensor2D {
  const c = t.shape[t.shape.length - 1]!;
  return t.reshape([t.size / c, c]);
}

function convBias(layer: Conv2dLayer, params: readonly tf.Tensor[], at: number): tf.Tensor1D | undefined {
  return layer.useBias === false ? undefined : (params[at + 1] as tf.Tensor1D);
}

/** γ/√(var + ε) and β − mean·γ/√(var + ε): batch norm in evaluation as a per-channel affine map. */
function foldedNorm(layer: BatchNormLayer, params: readonly tf.Tensor[], at: number): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  const [gamma, beta, mean, variance] = params.slice(at, at + 4) as tf.Tensor1D[];
  const scale = tf.div(gamma!, tf.sqrt(tf.add(variance!, layer.epsilon))) as tf.Tensor1D;
  return { scale, shift: tf.sub(beta!, tf.mul(mean!, scale)) as tf.Tensor1D };
}

/** Logits [n, classes] of a batch x [n, h, w, c] in evaluation mode; params in canonical order. */
export function predictLogits(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  checkParams(arch, params);
  const plan = planOf(arch);
  const out: tf.Tensor[] = [];
  const folded = new Set<number>();
  arch.layers.forEach((layer, i) => {
    if (folded.has(i)) return;
    const a = plan.inputs[i]!.map((j) => (j < 0 ? x : out[j]!));
    const at = plan.param[i]!;
    switch (layer.type) {
      case 'conv2d': {
        // A conv read only by a batch norm takes the norm into its kernel and bias: one XNNPACK call.
        const next = arch.layers[i + 1];
        if (next?.type === 'batchNorm' && plan.consumers[i] === 1 && plan.inputs[i + 1]![0] === i && layer.activation === 'none') {
          const { scale, shift } = foldedNorm(next, params, plan.param[i + 1]!);
          const bias = convBias(layer, params, at);
          const kernel = tf.mul(params[at]!, scale) as tf.Tensor4D;
          out[i] = out[i + 1] = convForward(a[0] as tf.Tensor4D, kernel, (bias ? tf.add(tf.mul(bias, scale), shift) : shift) as tf.Tensor1D, { ...layer, activation: next.activation });
          folded.add(i + 1);
        } else {
          out[i] = convForward(a[0] as tf.Tensor4D, params[at] as tf.Tensor4D, convBias(layer, params, at), layer);
        }
        break;
      }
      case 'batchNorm': {
        const { scale, shift } = foldedNorm(layer, params, at);
        const y = tf.add(tf.mul(a[0]!, scale), shift);
        out[i] = layer.activation === 'relu' ? tf.relu(y) : y;
        break;
      }
      default:
        out[i] = inferenceLayer(layer, a, params, at);
    }
  });
  return out[arch.layers.length - 1] as tf.Tensor2D;
}

/** The layers whose evaluation has no state and no parameters to fold. */
function inferenceLayer(layer: Layer, a: tf.Tensor[], params: readonly tf.Tensor[], at: number): tf.Tensor {
  switch (layer.type) {
    case 'maxPool':
      return tf.maxPool(a[0] as tf.Tensor4D, layer.size, layer.size, 'valid');
    case 'avgPool':
      return tf.avgPool(a[0] as tf.Tensor4D, layer.size, layer.size, 'valid');
    case 'flatten':
      return flatten(a[0]!);
    case 'dense':
      return denseForward(a[0] as tf.Tensor2D, params[at] as tf.Tensor2D, params[at + 1] as tf.Tensor1D, layer.activation);
    case 'add': {
      const y = tf.add(a[0]!, a[1]!);
      return layer.activation === 'relu' ? tf.relu(y) : y;
    }
    case 'shortcut':
      return runEngineKernel('WmShortcut', [a[0]!], { stride: layer.stride, filters: layer.filters })[0]!;
    case 'globalAvgPool':
      return tf.mean(a[0]!, [1, 2]);
    case 'dropout':
      return a[0]!;
    case 'conv2d':
    case 'batchNorm':
      throw new Error(`inferenceLayer: ${layer.type} is handled by predictLogits`);
  }
}

/** Differentiable logits for tfjs autodiff (custom gradients); plain chains only. */
export function forward(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  checkParams(arch, params);
  const plan = planOf(arch);
  let a: tf.Tensor = x;
  arch.layers.forEach((layer, i) => {
    const at = plan.param[i]!;
    switch (layer.type) {
      case 'conv2d':
        a = conv2d(a as tf.Tensor4D, params[at] as tf.Tensor4D, params[at + 1] as tf.Tensor1D, layer);
        break;
      case 'maxPool':
        a = maxPool(a as tf.Tensor4D, layer.size);
        break;
      case 'flatten':
        a = flatten(a);
        break;
      case 'dense':
        a = dense(a as tf.Tensor2D, params[at] as tf.Tensor2D, params[at + 1] as tf.Tensor1D, layer.activation);
        break;
      default:
        throw new Error(`forward (autodiff) supports conv, max pool, flatten and dense layers; ${arch.name} has ${layer.type}`);
    }
  });
  return a as tf.Tensor2D;
}

export interface TensorLossAndGrads {
  readonly loss: number;
  readonly correct: number;
  /**
   * Canonical param order; tensors owned by the caller (or the enclosing tidy). A batch norm's running
   * statistics get, in their slots, what their update needs: the batch mean and the batch mean of
   * squares (both average across data-parallel shards like the gradients do).
   */
  readonly grads: tf.Tensor[];
}

export interface TrainingPass {
  /** Dropout's seed for this step (the masks are a hash of it, the layer and the sample). */
  readonly seed?: number;
  /** Index of the batch's first sample in the whole step's batch (a data-parallel shard's offset). */
  readonly sampleOffset?: number;
  /** Memoises the im2col patches of x for a conv reading x directly, across calls with the same x. */
  readonly inputCols?: Map<tf.Tensor, tf.Tensor2D>;
}

/** What a layer's backward needs from its forward. */
interface Saved {
  readonly output: tf.Tensor;
  readonly argmax?: tf.Tensor4D;
  readonly norm?: NormForward;
  readonly mask?: tf.Tensor;
}

/**
 * Mean cross-entropy of the batch, the number classified correctly, and the gradient of every param
 * (training mode: batch norm from batch statistics, dropout on).
 */
export function lossAndGradients(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D, labels: Uint8Array, pass: TrainingPass = {}): TensorLossAndGrads {
  checkParams(arch, params);
  const plan = planOf(arch);
  const n = x.shape[0];
  const layers = arch.layers;
  const saved: Saved[] = [];
  const grads: tf.Tensor[] = new Array<tf.Tensor>(params.length);
  const input = (i: number, k = 0): tf.Tensor => {
    const j = plan.inputs[i]![k]!;
    return j < 0 ? x : saved[j]!.output;
  };
  layers.forEach((layer, i) => {
    const a = input(i);
    const at = plan.param[i]!;
    switch (layer.type) {
      case 'conv2d':
        saved[i] = { output: convForward(a as tf.Tensor4D, params[at] as tf.Tensor4D, convBias(layer, params, at), layer) };
        break;
      case 'batchNorm': {
        const norm = batchNormTrain(a, params[at] as tf.Tensor1D, params[at + 1] as tf.Tensor1D, layer.epsilon, layer.activation === 'relu');
        saved[i] = { output: norm.y, norm };
        grads[at + 2] = norm.mean;
        grads[at + 3] = norm.meanSq;
        break;
      }
      case 'maxPool':
        // After a conv the backward finds the max positions itself (poolReluBackward); elsewhere record them.
        if (layers[plan.inputs[i]![0]!]?.type === 'conv2d' && plan.consumers[plan.inputs[i]![0]!] === 1) {
          saved[i] = { output: tf.maxPool(a as tf.Tensor4D, layer.size, layer.size, 'valid') };
        } else {
          const r = maxPoolForward(a as tf.Tensor4D, layer.size);
          saved[i] = { output: r.y, argmax: r.argmax };
        }
        break;
      case 'dropout': {
        if (layer.rate <= 0) {
          saved[i] = { output: a };
          break;
        }
        const [mask] = runEngineKernel('WmDropoutMask', [a], { rate: layer.rate, seed: pass.seed ?? 0, layer: i, sampleOffset: pass.sampleOffset ?? 0 });
        saved[i] = { output: tf.mul(a, mask!), mask: mask! };
        break;
      }
      case 'add': {
        const y = tf.add(a, input(i, 1));
        saved[i] = { output: layer.activation === 'relu' ? tf.relu(y) : y };
        break;
      }
      default:
        saved[i] = { output: inferenceLayer(layer, [a], params, at) };
    }
  });
  const last = layers.length - 1;
  const ce = softmaxCrossEntropy(saved[last]!.output.dataSync() as Float32Array, labels, n, arch.classes);

  // Gradients w.r.t. each layer's output, summed over its consumers as they arrive.
  const dOut: (tf.Tensor | undefined)[] = new Array(layers.length);
  const send = (j: number, g: tf.Tensor): void => {
    if (j < 0) return;
    dOut[j] = dOut[j] ? tf.add(dOut[j]!, g) : g;
  };
  dOut[last] = tf.tensor2d(ce.dLogits, [n, arch.classes]);
  const needDx = (i: number, k = 0): boolean => {
    const j = plan.inputs[i]![k]!;
    return j >= 0 && plan.paramsUpstream[j]!;
  };
  const setGrads = (at: number, r: ParamGrads, bias: boolean): void => {
    grads[at] = r.dKernel;
    if (bias) grads[at + 1] = r.dBias!;
  };
  for (let i = last; i >= 0; i--) {
    const g = dOut[i];
    if (!g || !plan.paramsUpstream[i]) continue;
    const layer = layers[i]!;
    const at = plan.param[i]!;
    const s = saved[i]!;
    const from = plan.inputs[i]![0]!;
    switch (layer.type) {
      case 'conv2d': {
        const cols = from < 0 ? pass.inputCols : undefined;
        const r = convBackward(g as tf.Tensor4D, input(i) as tf.Tensor4D, s.output as tf.Tensor4D, params[at] as tf.Tensor4D, layer, needDx(i), cols);
        setGrads(at, r, layer.useBias !== false);
        if (r.dx) send(from, r.dx);
        break;
      }
      case 'batchNorm': {
        const { dx, dGamma, dBeta } = batchNormGrad(g, s.norm!, params[at] as tf.Tensor1D, layer.activation === 'relu');
        grads[at] = dGamma;
        grads[at + 1] = dBeta;
        const conv = layers[from];
        if (conv?.type === 'conv2d' && conv.activation === 'none' && plan.consumers[from] === 1) {
          // conv -> batch norm: the norm's input gradient is the conv's pre-activation gradient.
          const cat = plan.param[from]!;
          const r = convGradsFromDz({ dz: rows(dx), ...(conv.useBias === false ? {} : { dBias: tf.sum(rows(dx), 0) as tf.Tensor1D }) }, input(from) as tf.Tensor4D, params[cat] as tf.Tensor4D, conv, needDx(from), plan.inputs[from]![0]! < 0 ? pass.inputCols : undefined);
          setGrads(cat, r, conv.useBias !== false);
          if (r.dx) send(plan.inputs[from]![0]!, r.dx);
          dOut[from] = undefined;
          i = from;
        } else {
          send(from, dx);
        }
        break;
      }
      case 'maxPool': {
        const conv = layers[from];
        if (!s.argmax && conv?.type === 'conv2d') {
          // conv -> pool: one scatter from the pooled gradient replaces pool's and the ReLU's backward.
          const cat = plan.param[from]!;
          const convNeedsDx = needDx(from);
          const dz = poolReluBackward(g as tf.Tensor4D, saved[from]!.output as tf.Tensor4D, s.output as tf.Tensor4D, layer.size, conv.activation === 'relu', convNeedsDx);
          const r = convGradsFromDz(dz, input(from) as tf.Tensor4D, params[cat] as tf.Tensor4D, conv, convNeedsDx, plan.inputs[from]![0]! < 0 ? pass.inputCols : undefined);
          setGrads(cat, r, conv.useBias !== false);
          if (r.dx) send(plan.inputs[from]![0]!, r.dx);
          i = from;
        } else {
          send(from, maxPoolBackward(g as tf.Tensor4D, s.argmax!, input(i).shape));
        }
        break;
      }
      case 'flatten':
        send(from, g.reshape(input(i).shape));
        break;
      case 'dense': {
        const r = denseBackward(g as tf.Tensor2D, input(i) as tf.Tensor2D, s.output as tf.Tensor2D, params[at] as tf.Tensor2D, layer.activation, needDx(i));
        setGrads(at, r, true);
        if (r.dx) send(from, r.dx);
        break;
      }
      case 'add': {
        // The ReLU's gradient as two SIMD passes (a JS loop over the mask measured 3x slower here).
        const dz = layer.activation === 'relu' ? tf.mul(g, tf.step(s.output)) : g;
        if (needDx(i, 0)) send(from, dz);
        if (needDx(i, 1)) send(plan.inputs[i]![1]!, dz);
        break;
      }
      case 'shortcut':
        send(from, runEngineKernel('WmShortcutGrad', [g], { stride: layer.stride, filters: layer.filters, xShape: [...input(i).shape] })[0]!);
        break;
      case 'globalAvgPool':
        send(from, runEngineKernel('WmGlobalAvgPoolGrad', [g], { xShape: [...input(i).shape] })[0]!);
        break;
      case 'avgPool':
        send(from, runEngineKernel('WmAvgPoolGrad', [g], { size: layer.size, xShape: [...input(i).shape] })[0]!);
        break;
      case 'dropout':
        send(from, s.mask ? tf.mul(g, s.mask) : g);
        break;
    }
  }
  // Parameters no gradient reached (a layer fed only by frozen input) get zeros of their shape.
  for (let t = 0; t < params.length; t++) if (!grads[t]) grads[t] = tf.zerosLike(params[t]!);
  return { loss: ce.loss, correct: ce.correct, grads };
}
