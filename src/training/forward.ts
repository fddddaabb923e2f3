/**
 * Interprets an architecture's declarative layer list (src/core/architectures.ts) with the fast ops,
 * so a new architecture in the registry trains with no new code. Two routes over the same layers:
 * `forward` builds differentiable tensors for tfjs autodiff; `lossAndGradients` runs the forward once
 * keeping what each layer's backward needs and then walks the layers backwards by hand, which skips
 * work autodiff cannot (the input gradient of the first parameterised layer) and the tape's overhead.
 */
import * as tf from '@tensorflow/tfjs';
import { paramSpecs, type Architecture, type Layer } from '../core/architectures.js';
import {
  conv2d, convBackward, convForward, convGradsFromDz, dense, denseBackward, denseForward, flatten, maxPool,
  maxPoolBackward, maxPoolForward, poolReluBackward, softmaxCrossEntropy,
} from './ops.js';

function checkParams(arch: Architecture, params: readonly tf.Tensor[]): void {
  const specs = paramSpecs(arch);
  if (params.length !== specs.length) {
    throw new Error(`Architecture '${arch.name}' has ${specs.length} parameter tensors (${specs.map((s) => s.name).join(', ')}); found ${params.length}.`);
  }
}

/** Logits [n, classes] of a batch x [n, h, w, c]; params in canonical order (paramSpecs). */
export function forward(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  checkParams(arch, params);
  let p = 0;
  let a: tf.Tensor = x;
  for (const layer of arch.layers) {
    switch (layer.type) {
      case 'conv2d':
        a = conv2d(a as tf.Tensor4D, params[p++] as tf.Tensor4D, params[p++] as tf.Tensor1D, layer);
        break;
      case 'maxPool':
        a = maxPool(a as tf.Tensor4D, layer.size);
        break;
      case 'flatten':
        a = flatten(a);
        break;
      case 'dense':
        a = dense(a as tf.Tensor2D, params[p++] as tf.Tensor2D, params[p++] as tf.Tensor1D, layer.activation);
        break;
    }
  }
  return a as tf.Tensor2D;
}

/** Inference only: no argmax bookkeeping, tfjs's own pooling. */
export function predictLogits(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D): tf.Tensor2D {
  checkParams(arch, params);
  let p = 0;
  let a: tf.Tensor = x;
  for (const layer of arch.layers) {
    switch (layer.type) {
      case 'conv2d':
        a = convForward(a as tf.Tensor4D, params[p++] as tf.Tensor4D, params[p++] as tf.Tensor1D, layer);
        break;
      case 'maxPool':
        a = tf.maxPool(a as tf.Tensor4D, layer.size, layer.size, 'valid');
        break;
      case 'flatten':
        a = flatten(a);
        break;
      case 'dense':
        a = denseForward(a as tf.Tensor2D, params[p++] as tf.Tensor2D, params[p++] as tf.Tensor1D, layer.activation);
        break;
    }
  }
  return a as tf.Tensor2D;
}

export interface TensorLossAndGrads {
  readonly loss: number;
  readonly correct: number;
  /** Canonical param order; tensors owned by the caller (or the enclosing tidy). */
  readonly grads: tf.Tensor[];
}

interface Step {
  readonly layer: Layer;
  readonly input: tf.Tensor;
  readonly output: tf.Tensor;
  readonly argmax?: tf.Tensor4D;
  /** Index of the layer's kernel in params (its bias follows). */
  readonly param?: number;
}

/**
 * Mean cross-entropy of the batch, the number classified correctly, and the gradient of every param.
 * `inputCols` (optional) memoises the im2col patches of x for a conv reading x directly, across calls
 * with the same x and different params; the caller owns (and disposes) what it holds.
 */
export function lossAndGradients(arch: Architecture, params: readonly tf.Tensor[], x: tf.Tensor4D, labels: Uint8Array, inputCols?: Map<tf.Tensor, tf.Tensor2D>): TensorLossAndGrads {
  checkParams(arch, params);
  const n = x.shape[0];
  const steps: Step[] = [];
  let p = 0;
  let a: tf.Tensor = x;
  for (const layer of arch.layers) {
    const input = a;
    switch (layer.type) {
      case 'conv2d':
        a = convForward(a as tf.Tensor4D, params[p] as tf.Tensor4D, params[p + 1] as tf.Tensor1D, layer);
        steps.push({ layer, input, output: a, param: p });
        p += 2;
        break;
      case 'maxPool':
        // After a conv the backward finds the max positions itself (poolReluBackward); elsewhere record them.
        if (steps[steps.length - 1]?.layer.type === 'conv2d') {
          a = tf.maxPool(a as tf.Tensor4D, layer.size, layer.size, 'valid');
          steps.push({ layer, input, output: a });
        } else {
          const r = maxPoolForward(a as tf.Tensor4D, layer.size);
          a = r.y;
          steps.push({ layer, input, output: a, argmax: r.argmax });
        }
        break;
      case 'flatten':
        a = flatten(a);
        steps.push({ layer, input, output: a });
        break;
      case 'dense':
        a = denseForward(a as tf.Tensor2D, params[p] as tf.Tensor2D, params[p + 1] as tf.Tensor1D, layer.activation);
        steps.push({ layer, input, output: a, param: p });
        p += 2;
        break;
    }
  }
  const classes = arch.classes;
  const ce = softmaxCrossEntropy(a.dataSync() as Float32Array, labels, n, classes);
  const grads: tf.Tensor[] = new Array<tf.Tensor>(params.length);
  const firstParamStep = steps.findIndex((s) => s.param !== undefined);
  let g: tf.Tensor = tf.tensor2d(ce.dLogits, [n, classes]);
  for (let i = steps.length - 1; i >= firstParamStep; i--) {
    const s = steps[i]!;
    const needDx = i > firstParamStep;
    switch (s.layer.type) {
      case 'conv2d': {
        const r = convBackward(g as tf.Tensor4D, s.input as tf.Tensor4D, s.output as tf.Tensor4D, params[s.param!] as tf.Tensor4D, s.layer, needDx, s.input === x ? inputCols : undefined);
        grads[s.param!] = r.dKernel;
        grads[s.param! + 1] = r.dBias;
        if (r.dx) g = r.dx;
        break;
      }
      case 'maxPool': {
        const conv = steps[i - 1];
        if (conv?.layer.type === 'conv2d') {
          // conv -> pool: one scatter from the pooled gradient replaces pool's and the ReLU's backward.
          const convNeedsDx = i - 1 > firstParamStep;
          const dz = poolReluBackward(g as tf.Tensor4D, conv.output as tf.Tensor4D, s.output as tf.Tensor4D, s.layer.size, conv.layer.activation === 'relu', convNeedsDx);
          const r = convGradsFromDz(dz, conv.input as tf.Tensor4D, params[conv.param!] as tf.Tensor4D, conv.layer, convNeedsDx, conv.input === x ? inputCols : undefined);
          grads[conv.param!] = r.dKernel;
          grads[conv.param! + 1] = r.dBias;
          if (r.dx) g = r.dx;
          i--;
        } else {
          g = maxPoolBackward(g as tf.Tensor4D, s.argmax!, s.input.shape);
        }
        break;
      }
      case 'flatten':
        g = g.reshape(s.input.shape);
        break;
      case 'dense': {
        const r = denseBackward(g as tf.Tensor2D, s.input as tf.Tensor2D, s.output as tf.Tensor2D, params[s.param!] as tf.Tensor2D, s.layer.activation, needDx);
        grads[s.param!] = r.dKernel;
        grads[s.param! + 1] = r.dBias;
        if (r.dx) g = r.dx;
        break;
      }
    }
  }
  return { loss: ce.loss, correct: ce.correct, grads };
}
