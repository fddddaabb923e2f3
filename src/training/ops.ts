/**
 * The layers of our architectures as forward/backward pairs built from ops the wasm backend runs fast
 * (XNNPACK convolutions and matrix products, the engine's JS kernels for data movement), and the same
 * pairs wrapped as `tf.customGrad` ops so ordinary tfjs autodiff can use them too.
 *
 * Layouts are the canonical ones: NHWC activations, HWIO conv kernels, [in, out] dense kernels.
 * Formulations (FINDINGS §3 and our re-measurements at batch 100 on wasm): every matMul runs on
 * explicitly transposed operands, because matMul's transposeA/transposeB flags cost 10x.
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation, Padding } from '../core/architectures.js';
import { convGeometry, runEngineKernel } from './wasmKernels.js';
import { channelSums } from './batchNorm.js';

export interface ConvSpec {
  readonly kernel: number;
  readonly stride: number;
  readonly padding: Padding;
  readonly activation: Activation;
}

export interface ParamGrads {
  /** Gradient w.r.t. the layer input; absent when the caller said it needs none (first layers). */
  readonly dx?: tf.Tensor;
  readonly dKernel: tf.Tensor;
  readonly dBias?: tf.Tensor1D;
}

/** conv2d (+ bias) (+ ReLU) in one XNNPACK call. */
export function convForward(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | undefined, spec: ConvSpec): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: kernel, ...(bias ? { bias } : {}), strides: spec.stride, pad: spec.padding, activation: spec.activation === 'relu' ? 'relu' : 'linear' });
}

/**
 * Gradients of convForward given dy = dLoss/dy and the forward's input x and output y.
 * dW = (dz^T · im2col(x))^T; dx = col2im(dz · W^T), where dz is dy through the ReLU.
 */
export function convBackward(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, kernel: tf.Tensor4D, spec: ConvSpec, needDx: boolean, colsCache?: Map<tf.Tensor, tf.Tensor2D>): ParamGrads {
  if (gradsByConv(spec)) {
    // The convolution route needs no transposed gradient: the ReLU mask and bias sums as SIMD passes.
    const dz = spec.activation === 'relu' ? tf.mul(dy, tf.step(y)) : dy;
    return convGradsByConv(dz, x, kernel, spec, needDx, channelSums(dz));
  }
  const outC = kernel.shape[3];
  const m = dy.size / outC;
  const relu = spec.activation === 'relu';
  const dy2 = dy.reshape([m, outC]);
  const [dz, dzT, dBias] = runEngineKernel('WmReluBackward', [dy2, relu ? y.reshape([m, outC]) : dy2], { relu }) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  return convGradsFromDz({ dz, dzT, dBias }, x, kernel, spec, needDx, colsCache);
}

/** Gradients w.r.t. the pre-activation output z, in the layouts the products need. */
export interface PreActivationGrads {
  /** [m, outC]; needed for dx, and by the convolution route (gradsByConv). */
  readonly dz?: tf.Tensor2D;
  /** [outC, m]; needed by the im2col route. */
  readonly dzT?: tf.Tensor2D;
  readonly dBias?: tf.Tensor1D;
}

/**
 * Whether a conv's gradients go the convolution route (convGradsByConv) rather than im2col and
 * matrix products: for stride-1 convs with explicit (PyTorch) padding, the layers of the CIFAR nets.
 * Their im2col buffers are k²·C times the activation (37 MB per ResNet-32 stage-1 layer at batch 64),
 * and filling fresh memory that size costs more here than the products; XNNPACK's convolutions need
 * no such buffer. TensorFlow-padded convs (LeNet5) keep the route their committed results came from.
 */
export function gradsByConv(spec: ConvSpec): boolean {
  return typeof spec.padding === 'number' && spec.stride === 1 && spec.kernel > 1;
}

/**
 * dW[kh,kw,ci,co] = Σ x_pad[n, oh+kh, ow+kw, ci]·dz[n, oh, ow, co]: a convolution of x with the batch
 * as channels ([C, H, W, N]) by dz as the filter ([H', W', N, C']); dx = dz convolved with the kernel
 * flipped in space and transposed in channels, padded by k − 1 − p.
 */
function convGradsByConv(dz: tf.Tensor, x: tf.Tensor4D, kernel: tf.Tensor4D, spec: ConvSpec, needDx: boolean, dBias: tf.Tensor1D | undefined): ParamGrads {
  const p = spec.padding as number;
  const [n, h, w] = x.shape;
  const outC = kernel.shape[3];
  const dz4 = dz.reshape([n, h + 2 * p - spec.kernel + 1, w + 2 * p - spec.kernel + 1, outC]) as tf.Tensor4D;
  const pads = (q: number) => [[0, 0], [q, q], [q, q], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const byChannel = tf.conv2d(tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D, tf.transpose(dz4, [1, 2, 0, 3]) as tf.Tensor4D, 1, pads(p));
  const dKernel = tf.transpose(byChannel, [1, 2, 0, 3]);
  if (!needDx) return { dKernel, dBias };
  const flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  return { dx: tf.conv2d(dz4, flipped, 1, pads(spec.kernel - 1 - p)), dKernel, dBias };
}

/** `colsCache` memoises im2col(x) by x (kept out of the enclosing tidy; its owner disposes it). */
export function convGradsFromDz(g: PreActivationGrads, x: tf.Tensor4D, kernel: tf.Tensor4D, spec: ConvSpec, needDx: boolean, colsCache?: Map<tf.Tensor, tf.Tensor2D>): ParamGrads {
  if (gradsByConv(spec)) {
    const dz = g.dz ?? (runEngineKernel('WmTranspose2D', [g.dzT!])[0] as tf.Tensor2D);
    return convGradsByConv(dz, x, kernel, spec, needDx, g.dBias);
  }
  const geometry = convGeometry(x.shape, spec.kernel, spec.stride, spec.padding);
  let cols = colsCache?.get(x);
  if (!cols) {
    cols = runEngineKernel('WmIm2Col', [x], { geometry })[0] as tf.Tensor2D;
    if (colsCache) colsCache.set(x, tf.keep(cols));
  }
  const dzT = g.dzT ?? (runEngineKernel('WmTranspose2D', [g.dz!])[0] as tf.Tensor2D);
  const [dKernel] = runEngineKernel('WmTranspose2D', [tf.matMul(dzT, cols)], { shape: kernel.shape });
  if (!needDx) return { dKernel: dKernel!, dBias: g.dBias };
  if (!g.dz) throw new Error('convGradsFromDz: the input gradient needs dz; it was not computed.');
  const outC = kernel.shape[3];
  const [wT] = runEngineKernel('WmTranspose2D', [kernel.reshape([kernel.size / outC, outC])]) as [tf.Tensor2D];
  const [dx] = runEngineKernel('WmCol2Im', [tf.matMul(g.dz, wT)], { geometry });
  return { dx: dx!, dKernel: dKernel!, dBias: g.dBias };
}

/** Backward of conv(+ReLU) followed by maxPool, from the pooled gradient (see WmPoolReluBackward). */
export function poolReluBackward(dPooled: tf.Tensor4D, convOut: tf.Tensor4D, pooled: tf.Tensor4D, size: number, relu: boolean, needDz: boolean): PreActivationGrads {
  const out = runEngineKernel('WmPoolReluBackward', [dPooled, convOut, pooled], { size, relu, needDz });
  return needDz
    ? { dz: out[0] as tf.Tensor2D, dzT: out[1] as tf.Tensor2D, dBias: out[2] as tf.Tensor1D }
    : { dzT: out[0] as tf.Tensor2D, dBias: out[1] as tf.Tensor1D };
}

export function denseForward(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: Activation): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: kernel, bias, activation: activation === 'relu' ? 'relu' : 'linear' }) as tf.Tensor2D;
}

/** dW = x^T · dz; dx = (W · dz^T)^T — the transposes of the small activations, never of W. */
export function denseBackward(dy: tf.Tensor2D, x: tf.Tensor2D, y: tf.Tensor2D, kernel: tf.Tensor2D, activation: Activation, needDx: boolean): ParamGrads {
  const relu = activation === 'relu';
  const [dz, dzT, dBias] = runEngineKernel('WmReluBackward', [dy, relu ? y : dy], { relu }) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const [xT] = runEngineKernel('WmTranspose2D', [x]) as [tf.Tensor2D];
  const dKernel = tf.matMul(xT, dz);
  if (!needDx) return { dKernel, dBias };
  const [dx] = runEngineKernel('WmTranspose2D', [tf.matMul(kernel, dzT)]);
  return { dx: dx!, dKernel, dBias };
}

/** Max pooling with window = stride = size ('valid'); `argmax` is what maxPoolBackward needs. */
export function maxPoolForward(x: tf.Tensor4D, size: number): { y: tf.Tensor4D; argmax: tf.Tensor4D } {
  const [y, argmax] = runEngineKernel('WmMaxPool', [x], { size }) as [tf.Tensor4D, tf.Tensor4D];
  return { y, argmax };
}

export function maxPoolBackward(dy: tf.Tensor4D, argmax: tf.Tensor4D, xShape: readonly number[]): tf.Tensor4D {
  return runEngineKernel('WmMaxPoolGrad', [dy, argmax], { xShape: [...xShape] })[0] as tf.Tensor4D;
}

/** Mean softmax cross-entropy of logits [n, classes] against integer labels, and what it needs. */
export interface SoftmaxCE {
  readonly loss: number;
  readonly correct: number;
  /** dLoss/dlogits = (softmax - onehot) / n. */
  readonly dLogits: Float32Array;
}

export function softmaxCrossEntropy(logits: Float32Array, labels: Uint8Array, n: number, classes: number): SoftmaxCE {
  const dLogits = new Float32Array(n * classes);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const o = i * classes;
    const label = labels[i]!;
    if (label >= classes) throw new Error(`Label ${label} at sample ${i} is out of range; the architecture has ${classes} classes.`);
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < classes; c++) {
      if (logits[o + c]! > max) {
        max = logits[o + c]!;
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c]! - max);
    loss += Math.log(sum) + max - logits[o + label]!;
    if (arg === label) correct++;
    for (let c = 0; c < classes; c++) dLogits[o + c] = (Math.exp(logits[o + c]! - max) / sum - (c === label ? 1 : 0)) / n;
  }
  return { loss: loss / n, correct, dLogits };
}

// The same layers as differentiable ops, for tfjs autodiff (tf.grads, tf.variableGrads).

type Saved = tf.Tensor[];
type SaveFn = (tensors: Saved) => void;
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

/** conv2d + bias (+ ReLU) with the fast gradient. */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, spec: ConvSpec): tf.Tensor4D {
  const op = tf.customGrad(((xi: tf.Tensor4D, k: tf.Tensor4D, b: tf.Tensor1D, save: SaveFn) => {
    const y = convForward(xi, k, b, spec);
    save([xi, k, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, [xs, ks, ys]: Saved) => {
        const g = convBackward(dy, xs as tf.Tensor4D, ys as tf.Tensor4D, ks as tf.Tensor4D, spec, true);
        return [g.dx!, g.dKernel, g.dBias];
      },
    };
  }) as unknown as CustomGradFunc);
  return op(x, kernel, bias) as tf.Tensor4D;
}

/** dense + bias (+ ReLU) with the fast gradient. */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: Activation): tf.Tensor2D {
  const op = tf.customGrad(((xi: tf.Tensor2D, k: tf.Tensor2D, b: tf.Tensor1D, save: SaveFn) => {
    const y = denseForward(xi, k, b, activation);
    save([xi, k, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, [xs, ks, ys]: Saved) => {
        const g = denseBackward(dy, xs as tf.Tensor2D, ys as tf.Tensor2D, ks as tf.Tensor2D, activation, true);
        return [g.dx!, g.dKernel, g.dBias];
      },
    };
  }) as unknown as CustomGradFunc);
  return op(x, kernel, bias) as tf.Tensor2D;
}

/** Max pooling (window = stride = size) whose gradient is a scatter instead of tfjs's MaxPoolGrad. */
export function maxPool(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const op = tf.customGrad(((xi: tf.Tensor4D, save: SaveFn) => {
    const { y, argmax } = maxPoolForward(xi, size);
    save([argmax]);
    return { value: y, gradFunc: (dy: tf.Tensor4D, [argmaxS]: Saved) => maxPoolBackward(dy, argmaxS as tf.Tensor4D, xi.shape) };
  }) as unknown as CustomGradFunc);
  return op(x) as tf.Tensor4D;
}

/** NHWC -> [n, h*w*c]: the canonical HWC flatten order, a free reshape. */
export function flatten(x: tf.Tensor): tf.Tensor2D {
  return x.reshape([x.shape[0]!, x.size / x.shape[0]!]);
}
