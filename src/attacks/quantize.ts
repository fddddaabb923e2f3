/**
 * Quantization attacks: a model squeezed to fewer bits, then read back as float32 (what a verifier sees
 * after an attacker ships a quantized model and we dequantize it).
 *
 * - `quantizeUniform`: k-bit uniform quantization, per tensor or per output channel (the last axis of
 *   HWIO conv kernels and [in, out] dense kernels). Mode 'minmax' (default, the paper's setting): 2^k
 *   levels evenly spaced from the min to the max of the group, both ends exact. Mode 'symmetric': zero
 *   exact, 2^k − 1 levels in [−max|w|, max|w|]. Biases are quantized per tensor (a per-channel bias would
 *   be lossless) unless `includeBias` is false.
 * - `float16RoundTrip`: every tensor to IEEE half and back (round to nearest even).
 * - `int8Dynamic`: what `onnxruntime.quantization.quantize_dynamic` does to weights with its defaults
 *   (weight_type QInt8 ⇒ WeightSymmetric: per tensor, q ∈ [−127, 127], scale = max|w| / 127, zero point
 *   0, round half to even); 'uint8' (weight_type QUInt8) is asymmetric over [min(w,0), max(w,0)] →
 *   [0, 255]. Only kernels (MatMul/Conv weights) are quantized; biases stay float32, as in ORT's
 *   ConvInteger/MatMulInteger graphs. `perChannel` mirrors ORT's per_channel=True (last axis).
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { float32ToHalf, halfToFloat32 } from '../formats/float16.js';
import { isKernel, mapTensors, roundHalfEven } from './tensors.js';

export type QuantMode = 'minmax' | 'symmetric';
export type QuantGranularity = 'tensor' | 'channel';

export interface QuantizeOptions {
  readonly mode?: QuantMode;
  readonly granularity?: QuantGranularity;
  readonly includeBias?: boolean;
}

/** Calls fn(groupIndices) for each quantization group of a tensor: the whole tensor, or each channel of the last axis. */
function forEachGroup(t: ParamTensor, perChannel: boolean, fn: (start: number, stride: number, count: number) => void): void {
  const n = t.data.length;
  if (!perChannel || t.shape.length < 2) {
    fn(0, 1, n);
    return;
  }
  const c = t.shape[t.shape.length - 1]!;
  for (let j = 0; j < c; j++) fn(j, c, n / c);
}

function quantizeGroup(src: Float32Array, dst: Float32Array, start: number, stride: number, count: number, bits: number, mode: QuantMode): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0, i = start; k < count; k++, i += stride) {
    const v = src[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (mode === 'minmax') {
    const levels = 2 ** bits - 1;
    const step = (hi - lo) / levels;
    for (let k = 0, i = start; k < count; k++, i += stride) {
      dst[i] = step > 0 ? lo + Math.min(levels, Math.max(0, Math.round((src[i]! - lo) / step))) * step : src[i]!;
    }
  } else {
    const qmax = 2 ** (bits - 1) - 1;
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    const step = m / qmax;
    for (let k = 0, i = start; k < count; k++, i += stride) {
      dst[i] = step > 0 ? Math.min(qmax, Math.max(-qmax, Math.round(src[i]! / step))) * step : src[i]!;
    }
  }
}

/** k-bit uniform quantization (2 ≤ k ≤ 16), dequantized to float32. @throws Error on bits out of range. */
export function quantizeUniform(set: ParamSet, bits: number, opts: QuantizeOptions = {}): ParamSet {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new Error(`quantization bits must be an integer in 2..16, got ${bits}`);
  const mode = opts.mode ?? 'minmax';
  const perChannel = (opts.granularity ?? 'tensor') === 'channel';
  const includeBias = opts.includeBias ?? true;
  return mapTensors(set, (t) => {
    const out = new Float32Array(t.data);
    if (!isKernel(t) && !includeBias) return out;
    forEachGroup(t, perChannel && isKernel(t), (s, st, c) => quantizeGroup(t.data, out, s, st, c, bits, mode));
    return out;
  });
}

/** Every tensor to IEEE 754 half precision and back. */
export function float16RoundTrip(set: ParamSet): ParamSet {
  return mapTensors(set, (t) => halfToFloat32(float32ToHalf(t.data)));
}

export interface Int8DynamicOptions {
  /** ORT's weight_type: 'int8' (QInt8, default, symmetric) or 'uint8' (QUInt8, asymmetric). */
  readonly weightType?: 'int8' | 'uint8';
  readonly perChannel?: boolean;
  /** ORT's reduce_range: 7-bit ranges ([−64, 64] for int8, [0, 127] for uint8). */
  readonly reduceRange?: boolean;
}

/** ONNX Runtime dynamic quantization of the weights, dequantized back to float32. */
export function int8Dynamic(set: ParamSet, opts: Int8DynamicOptions = {}): ParamSet {
  const type = opts.weightType ?? 'int8';
  const reduce = opts.reduceRange ?? false;
  const [qmin, qmax] = type === 'int8' ? (reduce ? [-64, 64] : [-127, 127]) : reduce ? [0, 127] : [0, 255];
  return mapTensors(set, (t) => {
    const out = new Float32Array(t.data);
    if (!isKernel(t)) return out;
    forEachGroup(t, opts.perChannel ?? false, (start, stride, count) => {
      let rmin = 0;
      let rmax = 0;
      for (let k = 0, i = start; k < count; k++, i += stride) {
        rmin = Math.min(rmin, t.data[i]!);
        rmax = Math.max(rmax, t.data[i]!);
      }
      if (type === 'int8') {
        const absmax = Math.max(-rmin, rmax);
        rmin = -absmax;
        rmax = absmax;
      }
      let scale = (rmax - rmin) / (qmax - qmin);
      let zp = 0;
      if (scale < 1.1920929e-7) scale = 1;
      else zp = roundHalfEven(qmin - rmin / scale);
      scale = Math.fround(scale);
      for (let k = 0, i = start; k < count; k++, i += stride) {
        const q = Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(t.data[i]! / scale)) + zp));
        out[i] = (q - zp) * scale;
      }
    });
    return out;
  });
}

/** Distinct values per group — what the tests and the report use to show the levels. */
export function distinctLevels(t: ParamTensor, perChannel: boolean): number[] {
  const counts: number[] = [];
  forEachGroup(t, perChannel, (s, st, c) => {
    const seen = new Set<number>();
    for (let k = 0, i = s; k < c; k++, i += st) seen.add(t.data[i]!);
    counts.push(seen.size);
  });
  return counts;
}

