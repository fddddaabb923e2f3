/**
 * The engine's own tfjs kernels: the memory-bound glue of training (im2col, col2im, max pooling and
 * its gradient, the ReLU gradient with its transpose and bias sum, the fused conv->ReLU->pool
 * backward, 2-D transposes) as plain loops over Float32Arrays, plus the `Conv2DBackpropFilter`
 * kernel the wasm backend lacks.
 *
 * Why loops in JS: on the wasm backend the matrix products (XNNPACK) are fast but the data-movement
 * ops are not (measured at batch 100: tfjs slice+concat im2col 230 ms vs 2 ms here; tf maxPool
 * gradient 22-28 ms vs 1 ms; matMul with transposeA/B 120 ms vs 12 ms on transposed copies). On wasm
 * the loops read and write the tensors in place on the wasm heap, so nothing is copied; on other
 * backends they go through readSync/write.
 */
import * as tf from '@tensorflow/tfjs';
import type { Padding } from '../core/architectures.js';
import { graphKernels } from './graphKernels.js';

type Values = Float32Array | Int32Array;
type Attrs = Record<string, unknown>;
interface OutSpec {
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
}
export interface JsKernel {
  readonly name: string;
  outputs(inputs: readonly tf.TensorInfo[], attrs: Attrs): OutSpec[];
  compute(ins: readonly Values[], outs: readonly Values[], inputs: readonly tf.TensorInfo[], attrs: Attrs): void;
}

/** The subset of the wasm backend's (untyped, internal) API the kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Values;
  disposeData(dataId: object): boolean;
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function runJs(k: JsKernel, backendName: string, backend: tf.KernelBackend, inputs: readonly tf.TensorInfo[], attrs: Attrs): tf.TensorInfo[] {
  const specs = k.outputs(inputs, attrs);
  if (backendName === 'wasm') {
    const wb = backend as unknown as WasmBackend;
    // Allocate first: an allocation may grow the wasm memory, which detaches earlier heap views.
    const infos = specs.map((s) => wb.makeOutput(s.shape, s.dtype));
    const ins = inputs.map((t) => wb.typedArrayFromHeap(t));
    const outs = infos.map((t) => wb.typedArrayFromHeap(t));
    k.compute(ins, outs, inputs, attrs);
    return infos;
  }
  const ins = inputs.map((t) => backend.readSync(t.dataId) as Values);
  const outs = specs.map((s) => (s.dtype === 'int32' ? new Int32Array(size(s.shape)) : new Float32Array(size(s.shape))));
  k.compute(ins, outs, inputs, attrs);
  return specs.map((s, i) => ({ dataId: backend.write(outs[i]!, s.shape, s.dtype), shape: s.shape, dtype: s.dtype }));
}

/** dst [cols, rows] = src [rows, cols]ᵀ, in row blocks that stay in cache so each column's writes are contiguous runs. */
function transposeInto(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let ch = 0; ch < cols; ch++) {
      let d = ch * rows + r0;
      for (let r = r0; r < r1; r++) dst[d++] = src[r * cols + ch]!;
    }
  }
}


/** Geometry of a 2-D convolution, NHWC, dilation 1. */
export interface ConvGeometry {
  readonly n: number;
  readonly inH: number;
  readonly inW: number;
  readonly inC: number;
  readonly k: number;
  readonly stride: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly outH: number;
  readonly outW: number;
}

/**
 * TensorFlow's padding rules ('same': out = ceil(in/stride), the odd pixel of padding at the
 * bottom/right); a number pads every side by that much, as PyTorch does.
 */
export function convGeometry(xShape: readonly number[], k: number, stride: number, padding: Padding): ConvGeometry {
  const [n, inH, inW, inC] = xShape as [number, number, number, number];
  if (typeof padding === 'number') {
    const outH = Math.floor((inH + 2 * padding - k) / stride) + 1;
    const outW = Math.floor((inW + 2 * padding - k) / stride) + 1;
    return { n, inH, inW, inC, k, stride, padTop: padding, padLeft: padding, outH, outW };
  }
  if (padding === 'valid') {
    return { n, inH, inW, inC, k, stride, padTop: 0, padLeft: 0, outH: Math.floor((inH - k) / stride) + 1, outW: Math.floor((inW - k) / stride) + 1 };
  }
  const outH = Math.ceil(inH / stride);
  const outW = Math.ceil(inW / stride);
  const padH = Math.max((outH - 1) * stride + k - inH, 0);
  const padW = Math.max((outW - 1) * stride + k - inW, 0);
  return { n, inH, inW, inC, k, stride, padTop: Math.floor(padH / 2), padLeft: Math.floor(padW / 2), outH, outW };
}

function geometryOf(attrs: Attrs): ConvGeometry {
  return attrs['geometry'] as ConvGeometry;
}

/** x [n,h,w,c] -> patches [n*outH*outW, k*k*c], columns in HWC order (matches an HWIO kernel reshaped to [k*k*c, out]). */
const im2col: JsKernel = {
  name: 'WmIm2Col',
  outputs(_inputs, attrs) {
    const g = geometryOf(attrs);
    return [{ shape: [g.n * g.outH * g.outW, g.k * g.k * g.inC], dtype: 'float32' }];
  },
  compute([x], [p], _inputs, attrs) {
    const { n, inH, inW, inC: c, k, stride, padTop, padLeft, outH, outW } = geometryOf(attrs);
    const xv = x as Float32Array;
    const pv = p as Float32Array;
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const iw0 = ow * stride - padLeft;
          const kw0 = Math.max(0, -iw0);
          const kw1 = Math.min(k, inW - iw0);
          for (let kh = 0; kh < k; kh++) {
            const ih = oh * stride - padTop + kh;
            if (ih < 0 || ih >= inH || kw1 <= kw0) {
              pv.fill(0, o, o + k * c);
            } else {
              if (kw0 > 0) pv.fill(0, o, o + kw0 * c);
              const src = ((b * inH + ih) * inW + iw0 + kw0) * c;
              const len = (kw1 - kw0) * c;
              // A subarray per copy costs more than copying a short run element by element.
              if (len >= 64) pv.set(xv.subarray(src, src + len), o + kw0 * c);
              else for (let t = 0; t < len; t++) pv[o + kw0 * c + t] = xv[src + t]!;
              if (kw1 < k) pv.fill(0, o + kw1 * c, o + k * c);
            }
            o += k * c;
          }
        }
      }
    }
  },
};

/** The adjoint of im2col: patches [n*outH*outW, k*k*c] summed back into [n,h,w,c]. */
const col2im: JsKernel = {
  name: 'WmCol2Im',
  outputs(_inputs, attrs) {
    const g = geometryOf(attrs);
    return [{ shape: [g.n, g.inH, g.inW, g.inC], dtype: 'float32' }];
  },
  compute([p], [x], _inputs, attrs) {
    const { n, inH, inW, inC: c, k, stride, padTop, padLeft, outH, outW } = geometryOf(attrs);
    const pv = p as Float32Array;
    const xv = x as Float32Array;
    xv.fill(0);
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const iw0 = ow * stride - padLeft;
          const kw0 = Math.max(0, -iw0);
          const kw1 = Math.min(k, inW - iw0);
          for (let kh = 0; kh < k; kh++) {
            const ih = oh * stride - padTop + kh;
            if (ih >= 0 && ih < inH && kw1 > kw0) {
              let dst = ((b * inH + ih) * inW + iw0 + kw0) * c;
              let src = o + kw0 * c;
              const end = src + (kw1 - kw0) * c;
              while (src < end) xv[dst++]! += pv[src++]!;
            }
            o += k * c;
          }
        }
      }
    }
  },
};

/** Max pooling, window = stride = size, 'valid'; also returns, per output, the flat index of the max in x. */
const maxPool: JsKernel = {
  name: 'WmMaxPool',
  outputs([x], attrs) {
    const s = attrs['size'] as number;
    const [n, h, w, c] = x!.shape as [number, number, number, number];
    const shape = [n, Math.floor(h / s), Math.floor(w / s), c];
    return [
      { shape, dtype: 'float32' },
      { shape, dtype: 'int32' },
    ];
  },
  compute([x], [y, arg], [xInfo], attrs) {
    const s = attrs['size'] as number;
    const [n, h, w, c] = xInfo!.shape as [number, number, number, number];
    const oh = Math.floor(h / s);
    const ow = Math.floor(w / s);
    const xv = x as Float32Array;
    const yv = y as Float32Array;
    const av = arg as Int32Array;
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const corner = ((b * h + i * s) * w + j * s) * c;
          // Channel runs are contiguous: seed with the window's first row, then fold in the others.
          for (let ch = 0; ch < c; ch++) {
            yv[o + ch] = xv[corner + ch]!;
            av[o + ch] = corner + ch;
          }
          for (let di = 0; di < s; di++) {
            for (let dj = di === 0 ? 1 : 0; dj < s; dj++) {
              const base = corner + (di * w + dj) * c;
              for (let ch = 0; ch < c; ch++) {
                const v = xv[base + ch]!;
                if (v > yv[o + ch]!) {
                  yv[o + ch] = v;
                  av[o + ch] = base + ch;
                }
              }
            }
          }
          o += c;
        }
      }
    }
  },
};

/** Routes each pooled gradient to the position that held the max (ties: the first, as tf.maxPool's gradient). */
const maxPoolGrad: JsKernel = {
  name: 'WmMaxPoolGrad',
  outputs(_inputs, attrs) {
    return [{ shape: attrs['xShape'] as number[], dtype: 'float32' }];
  },
  compute([dy, arg], [dx]) {
    const dyv = dy as Float32Array;
    const av = arg as Int32Array;
    const dxv = dx as Float32Array;
    dxv.fill(0);
    for (let o = 0; o < dyv.length; o++) dxv[av[o]!]! += dyv[o]!;
  },
};

/**
 * One pass over the gradient of a layer's output y [m, c]: dz = dy masked by y > 0 (when the layer
 * has a ReLU), its transpose dzT [c, m] (what the weight gradient's matMul needs) and db = column
 * sums. Inputs: dy, y (pass dy again when there is no ReLU).
 */
const reluBackward: JsKernel = {
  name: 'WmReluBackward',
  outputs([dy]) {
    const [m, c] = dy!.shape as [number, number];
    return [
      { shape: [m, c], dtype: 'float32' },
      { shape: [c, m], dtype: 'float32' },
      { shape: [c], dtype: 'float32' },
    ];
  },
  compute([dy, y], [dz, dzT, db], [dyInfo], attrs) {
    const [m, c] = dyInfo!.shape as [number, number];
    const relu = attrs['relu'] as boolean;
    const dyv = dy as Float32Array;
    const yv = y as Float32Array;
    const dzv = dz as Float32Array;
    const dtv = dzT as Float32Array;
    const sums = new Float64Array(c);
    for (let r = 0, o = 0; r < m; r++) {
      for (let ch = 0; ch < c; ch++, o++) {
        const v = relu && !(yv[o]! > 0) ? 0 : dyv[o]!;
        dzv[o] = v;
        sums[ch]! += v;
      }
    }
    transposeInto(dzv, dtv, m, c);
    (db as Float32Array).set(sums);
  },
};

/**
 * The backward of conv(+ReLU) -> maxPool in one scatter, straight from the pooled gradient dp: each
 * pooled gradient lands on the first position of its window holding the max (tf.maxPool's choice),
 * if that max passed the ReLU (is > 0). Written as dz [m, c] (only when `needDz`: the input gradient
 * needs it) and transposed as dzT [c, m], with db the per-channel sums. The max's position is found
 * here rather than recorded by the forward: tf.maxPool's SIMD forward plus this search costs half of
 * an argmax-recording forward in JS, whose data-dependent branches mispredict. Skips the dense
 * [n,h,w,c] gradient that is 3/4 zeros. Inputs: dp, y (the conv output), pooled values.
 */
const poolReluBackward: JsKernel = {
  name: 'WmPoolReluBackward',
  outputs([, y], attrs) {
    const [n, h, w, c] = y!.shape as [number, number, number, number];
    const m = n * h * w;
    const dzT: OutSpec = { shape: [c, m], dtype: 'float32' };
    const db: OutSpec = { shape: [c], dtype: 'float32' };
    return attrs['needDz'] ? [{ shape: [m, c], dtype: 'float32' }, dzT, db] : [dzT, db];
  },
  compute([dp, y, pooled], outs, [, yInfo], attrs) {
    const [n, h, w, c] = yInfo!.shape as [number, number, number, number];
    const m = n * h * w;
    const size = attrs['size'] as number;
    const relu = attrs['relu'] as boolean;
    const needDz = attrs['needDz'] as boolean;
    const dz = (needDz ? outs[0] : undefined) as Float32Array | undefined;
    const dzT = outs[needDz ? 1 : 0] as Float32Array;
    const db = outs[needDz ? 2 : 1] as Float32Array;
    const dpv = dp as Float32Array;
    const yv = y as Float32Array;
    const pv = pooled as Float32Array;
    const ph = Math.floor(h / size);
    const pw = Math.floor(w / size);
    const sums = new Float64Array(c);
    dz?.fill(0);
    dzT.fill(0);
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < ph; i++) {
        for (let j = 0; j < pw; j++) {
          const corner = ((b * h + i * size) * w + j * size) * c;
          for (let ch = 0; ch < c; ch++, o++) {
            const p = pv[o]!;
            if (relu && !(p > 0)) continue;
            let idx = -1;
            for (let di = 0; di < size && idx < 0; di++) {
              for (let dj = 0; dj < size; dj++) {
                const t = corner + (di * w + dj) * c + ch;
                if (yv[t] === p) {
                  idx = t;
                  break;
                }
              }
            }
            const v = dpv[o]!;
            if (dz) dz[idx] = v;
            dzT[ch * m + (idx - ch) / c] = v;
            sums[ch]! += v;
          }
        }
      }
    }
    db.set(sums);
  },
};

/** [r, c] -> [c, r]; attr `shape` optionally relabels the result (e.g. as an HWIO kernel). */
const transpose2d: JsKernel = {
  name: 'WmTranspose2D',
  outputs([a], attrs) {
    const [r, c] = a!.shape as [number, number];
    return [{ shape: (attrs['shape'] as number[] | undefined) ?? [c, r], dtype: 'float32' }];
  },
  compute([a], [t], [aInfo]) {
    const [r, c] = aInfo!.shape as [number, number];
    const av = a as Float32Array;
    const tv = t as Float32Array;
    const B = 32;
    for (let r0 = 0; r0 < r; r0 += B) {
      const r1 = Math.min(r, r0 + B);
      for (let c0 = 0; c0 < c; c0 += B) {
        const c1 = Math.min(c, c0 + B);
        for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) tv[j * r + i] = av[i * c + j]!;
      }
    }
  },
};

const jsKernels: readonly JsKernel[] = [im2col, col2im, maxPool, maxPoolGrad, reluBackward, poolReluBackward, transpose2d, ...graphKernels];

/**
 * The missing wasm gradient of tf.conv2d w.r.t. its filter, so plain tf.conv2d models (and tf.layers)
 * train on wasm: dW = im2col(x)^T · dy, computed as (dy^T · im2col(x))^T with the two transposes in
 * JS and the product in XNNPACK. Any stride and padding; NHWC only (dilated convolutions have no
 * gradient in tfjs anyway). Intermediates are freed here; the output belongs to the caller.
 */
function conv2dBackpropFilter(backendName: string): tf.KernelConfig['kernelFunc'] {
  return ({ inputs, backend: anyBackend, attrs }) => {
    const backend = anyBackend as tf.KernelBackend;
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as {
      strides: number | [number, number];
      pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      filterShape: [number, number, number, number];
    };
    if (a.dataFormat === 'NCHW') throw new Error(`Conv2DBackpropFilter: data format NCHW is not supported; supported: NHWC.`);
    const [kh, kw, inC, outC] = a.filterShape;
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode);
    if (kh !== kw || info.strideHeight !== info.strideWidth) {
      throw new Error(`Conv2DBackpropFilter: found kernel ${kh}x${kw} with strides ${info.strideHeight}x${info.strideWidth}; supported: square kernels with equal strides.`);
    }
    const geometry: ConvGeometry = {
      n: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC, k: kh, stride: info.strideHeight,
      padTop: info.padInfo.top, padLeft: info.padInfo.left, outH: info.outHeight, outW: info.outWidth,
    };
    const m = geometry.n * geometry.outH * geometry.outW;
    const kkc = kh * kw * inC;
    const free = (t: tf.TensorInfo) => backend.disposeData(t.dataId);
    const [cols] = runJs(im2col, backendName, backend, [x], { geometry });
    const [dyT] = runJs(transpose2d, backendName, backend, [{ ...dy, shape: [m, outC] }], {});
    const matMul = tf.getKernel('BatchMatMul', backendName)!.kernelFunc;
    const prod = matMul({
      inputs: { a: { ...dyT!, shape: [1, outC, m] }, b: { ...cols!, shape: [1, m, kkc] } },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    const [dw] = runJs(transpose2d, backendName, backend, [{ ...prod, shape: [outC, kkc] }], { shape: [kh, kw, inC, outC] });
    for (const t of [cols!, dyT!, prod]) free(t);
    return dw!;
  };
}

/** Registers the engine's kernels for a backend once; tfjs keys kernels by (name, backend). */
export function registerEngineKernels(backendName: string): void {
  for (const k of jsKernels) {
    if (tf.getKernel(k.name, backendName)) continue;
    tf.registerKernel({
      kernelName: k.name,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => runJs(k, backendName, backend as tf.KernelBackend, Object.values(inputs) as tf.TensorInfo[], attrs as Attrs),
    });
  }
  if (backendName === 'wasm' && !tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter('wasm') });
  }
}

/** Runs one of the engine's kernels on tensors (inside tidy like any op). */
export function runEngineKernel(name: string, inputs: readonly tf.Tensor[], attrs: Attrs = {}): tf.Tensor[] {
  const named: Record<string, tf.Tensor> = {};
  inputs.forEach((t, i) => (named[`in${i}`] = t));
  const out = tf.engine().runKernel(name, named, attrs as tf.NamedAttrMap);
  return Array.isArray(out) ? out : [out];
}
