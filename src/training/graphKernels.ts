/**
 * The engine's kernels for the layers of residual, batch-normed networks: batch norm's training
 * forward and backward (with its ReLU and the transposed gradient the conv weight product needs fused
 * in, so each costs one or two passes over the activation), the ReLU mask of a residual sum, ResNet's
 * option-A shortcut, global average pooling's gradient and dropout. Plain loops over the tensors in
 * place, as the others in wasmKernels.ts (why: see there). Activations are [m, c] rows, c innermost.
 */
import type { JsKernel } from './wasmKernels.js';

type Attrs = Record<string, unknown>;

/** dst [cols, rows] = src [rows, cols]ᵀ, in row blocks that stay in cache so each column's writes are contiguous runs. */
export function transposeInto(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let ch = 0; ch < cols; ch++) {
      let d = ch * rows + r0;
      for (let r = r0; r < r1; r++) dst[d++] = src[r * cols + ch]!;
    }
  }
}

function rowsCols(shape: readonly number[]): [number, number] {
  const c = shape[shape.length - 1]!;
  return [shape.reduce((a, b) => a * b, 1) / c, c];
}

/**
 * Training-mode batch norm over [m, c]: per channel the batch mean and (biased) variance, then
 * y = γ·(x − mean)/√(var + ε) + β, through a ReLU when asked. Outputs y, mean, 1/√(var + ε) and the
 * mean of squares (what the running statistics need; it averages across data-parallel shards).
 * Inputs: x, gamma, beta.
 */
const batchNormTrain: JsKernel = {
  name: 'WmBatchNormTrain',
  outputs([x]) {
    const [, c] = rowsCols(x!.shape);
    return [{ shape: [...x!.shape], dtype: 'float32' }, { shape: [c], dtype: 'float32' }, { shape: [c], dtype: 'float32' }, { shape: [c], dtype: 'float32' }];
  },
  compute([x, gamma, beta], [y, meanOut, invOut, sqOut], [xInfo], attrs: Attrs) {
    const [m, c] = rowsCols(xInfo!.shape);
    const eps = attrs['epsilon'] as number;
    const relu = attrs['relu'] as boolean;
    const xv = x as Float32Array;
    const yv = y as Float32Array;
    const sum = new Float64Array(c);
    const sq = new Float64Array(c);
    for (let r = 0, o = 0; r < m; r++) {
      for (let ch = 0; ch < c; ch++, o++) {
        const v = xv[o]!;
        sum[ch]! += v;
        sq[ch]! += v * v;
      }
    }
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let ch = 0; ch < c; ch++) {
      const mean = sum[ch]! / m;
      const meanSq = sq[ch]! / m;
      const inv = 1 / Math.sqrt(Math.max(meanSq - mean * mean, 0) + eps);
      (meanOut as Float32Array)[ch] = mean;
      (invOut as Float32Array)[ch] = inv;
      (sqOut as Float32Array)[ch] = meanSq;
      scale[ch] = gamma![ch]! * inv;
      shift[ch] = beta![ch]! - mean * scale[ch]!;
    }
    for (let r = 0, o = 0; r < m; r++) {
      for (let ch = 0; ch < c; ch++, o++) {
        const v = xv[o]! * scale[ch]! + shift[ch]!;
        yv[o] = relu && v < 0 ? 0 : v;
      }
    }
  },
};

/**
 * Backward of WmBatchNormTrain from dL/dy: g = dy masked by y > 0 when there was a ReLU, then
 * dβ = Σg, dγ = Σg·x̂, dx = γ/σ·(g − dβ/m − x̂·dγ/m). Outputs dx [m, c], dxᵀ [c, m] when attr
 * `transpose` (the conv before it may need both), dγ, dβ. Inputs: dy, y (dy again without a ReLU),
 * x, mean, invstd, gamma.
 */
const batchNormGrad: JsKernel = {
  name: 'WmBatchNormGrad',
  outputs([dy], attrs) {
    const [m, c] = rowsCols(dy!.shape);
    const dx = { shape: [...dy!.shape], dtype: 'float32' as const };
    const perChannel = { shape: [c], dtype: 'float32' as const };
    return attrs['transpose'] ? [dx, { shape: [c, m], dtype: 'float32' }, perChannel, perChannel] : [dx, perChannel, perChannel];
  },
  compute([dy, y, x, mean, inv, gamma], outs, [dyInfo], attrs: Attrs) {
    const [dx, dxT, dGamma, dBeta] = attrs['transpose'] ? outs : [outs[0], undefined, outs[1], outs[2]];
    const [m, c] = rowsCols(dyInfo!.shape);
    const relu = attrs['relu'] as boolean;
    const dyv = dy as Float32Array;
    const yv = y as Float32Array;
    const xv = x as Float32Array;
    const dxv = dx as Float32Array;
    const sumG = new Float64Array(c);
    const sumGX = new Float64Array(c);
    // First pass: the masked gradient lands in dx (as scratch) while the sums run.
    for (let r = 0, o = 0; r < m; r++) {
      for (let ch = 0; ch < c; ch++, o++) {
        const g = relu && !(yv[o]! > 0) ? 0 : dyv[o]!;
        dxv[o] = g;
        sumG[ch]! += g;
        sumGX[ch]! += g * (xv[o]! - mean![ch]!);
      }
    }
    const a = new Float32Array(c);
    const b = new Float32Array(c);
    const k = new Float32Array(c);
    for (let ch = 0; ch < c; ch++) {
      const s = inv![ch]!;
      const dg = sumGX[ch]! * s;
      (dGamma as Float32Array)[ch] = dg;
      (dBeta as Float32Array)[ch] = sumG[ch]!;
      // dx = γs·g − γs·dβ/m − γs·x̂·dγ/m with x̂ = (x − mean)s: a·g + b + k·(x − mean).
      a[ch] = gamma![ch]! * s;
      b[ch] = (-gamma![ch]! * s * sumG[ch]!) / m;
      k[ch] = (-gamma![ch]! * s * s * dg) / m;
    }
    for (let r = 0, o = 0; r < m; r++) {
      for (let ch = 0; ch < c; ch++, o++) dxv[o] = a[ch]! * dxv[o]! + b[ch]! + k[ch]! * (xv[o]! - mean![ch]!);
    }
    if (dxT) transposeInto(dxv, dxT as Float32Array, m, c);
  },
};

/** dy masked by y > 0 (the ReLU after a residual sum). Inputs: dy, y. */
const reluMask: JsKernel = {
  name: 'WmReluMask',
  outputs([dy]) {
    return [{ shape: [...dy!.shape], dtype: 'float32' }];
  },
  compute([dy, y], [dx]) {
    const dyv = dy as Float32Array;
    const yv = y as Float32Array;
    const dxv = dx as Float32Array;
    for (let i = 0; i < dxv.length; i++) dxv[i] = yv[i]! > 0 ? dyv[i]! : 0;
  },
};

function shortcutGeometry(inShape: readonly number[], attrs: Attrs) {
  const [n, h, w, c] = inShape as [number, number, number, number];
  const stride = attrs['stride'] as number;
  const filters = attrs['filters'] as number;
  return { n, h, w, c, stride, filters, oh: Math.ceil(h / stride), ow: Math.ceil(w / stride), front: Math.floor((filters - c) / 2) };
}

/** Option-A shortcut: x[:, ::s, ::s, :] with the channels zero-padded to `filters` (⌊pad/2⌋ in front). */
const shortcut: JsKernel = {
  name: 'WmShortcut',
  outputs([x], attrs) {
    const g = shortcutGeometry(x!.shape, attrs);
    return [{ shape: [g.n, g.oh, g.ow, g.filters], dtype: 'float32' }];
  },
  compute([x], [y], [xInfo], attrs) {
    const { n, h, w, c, stride, filters, oh, ow, front } = shortcutGeometry(xInfo!.shape, attrs);
    const xv = x as Float32Array;
    const yv = y as Float32Array;
    yv.fill(0);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const src = ((b * h + i * stride) * w + j * stride) * c;
          const dst = ((b * oh + i) * ow + j) * filters + front;
          for (let ch = 0; ch < c; ch++) yv[dst + ch] = xv[src + ch]!;
        }
      }
    }
  },
};

/** The adjoint of WmShortcut: the kept channels of dy scattered back to the sampled pixels. Attr xShape. */
const shortcutGrad: JsKernel = {
  name: 'WmShortcutGrad',
  outputs(_inputs, attrs) {
    return [{ shape: attrs['xShape'] as number[], dtype: 'float32' }];
  },
  compute([dy], [dx], _inputs, attrs) {
    const { n, h, w, c, stride, filters, oh, ow, front } = shortcutGeometry(attrs['xShape'] as number[], attrs);
    const dyv = dy as Float32Array;
    const dxv = dx as Float32Array;
    dxv.fill(0);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const dst = ((b * h + i * stride) * w + j * stride) * c;
          const src = ((b * oh + i) * ow + j) * filters + front;
          for (let ch = 0; ch < c; ch++) dxv[dst + ch] = dyv[src + ch]!;
        }
      }
    }
  },
};

/** Gradient of the mean over h×w: dy [n, c] spread evenly over [n, h, w, c]. Attr xShape. */
const globalAvgPoolGrad: JsKernel = {
  name: 'WmGlobalAvgPoolGrad',
  outputs(_inputs, attrs) {
    return [{ shape: attrs['xShape'] as number[], dtype: 'float32' }];
  },
  compute([dy], [dx], _inputs, attrs) {
    const [n, h, w, c] = attrs['xShape'] as [number, number, number, number];
    const dyv = dy as Float32Array;
    const dxv = dx as Float32Array;
    const inv = 1 / (h * w);
    for (let b = 0, o = 0; b < n; b++) {
      for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++, o++) dxv[o] = dyv[b * c + ch]! * inv;
    }
  },
};

/**
 * Inverted dropout's mask, 0 or 1/(1 − rate) per element, from a hash of (seed, layer, sample,
 * element): the mask of a sample is the same whichever worker holds it and however the batch is cut.
 * Attrs: seed, layer, sampleOffset, rate. Input x (for its shape). Output the mask.
 */
const dropoutMask: JsKernel = {
  name: 'WmDropoutMask',
  outputs([x]) {
    return [{ shape: [...x!.shape], dtype: 'float32' }];
  },
  compute(_ins, [mask], [xInfo], attrs) {
    const n = xInfo!.shape[0]!;
    const per = (mask as Float32Array).length / n;
    const rate = attrs['rate'] as number;
    const keep = 1 / (1 - rate);
    const threshold = Math.floor(rate * 4294967296);
    const base = Math.imul((attrs['seed'] as number) >>> 0, 0x9e3779b1) ^ Math.imul((attrs['layer'] as number) + 1, 0x85ebca6b);
    const mv = mask as Float32Array;
    for (let b = 0, o = 0; b < n; b++) {
      const sample = Math.imul((attrs['sampleOffset'] as number) + b + 1, 0xc2b2ae35) ^ base;
      for (let e = 0; e < per; e++, o++) {
        let z = (sample + Math.imul(e, 0x27d4eb2f)) | 0;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        z ^= z >>> 16;
        mv[o] = z >>> 0 < threshold ? 0 : keep;
      }
    }
  },
};

export const graphKernels: readonly JsKernel[] = [batchNormTrain, batchNormGrad, reluMask, shortcut, shortcutGrad, globalAvgPoolGrad, dropoutMask];
