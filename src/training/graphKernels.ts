/**
 * The engine's kernels for the data movement of residual networks: ResNet's option-A shortcut, global
 * average pooling's gradient and dropout's mask. Plain loops over the tensors in place, as the others
 * in wasmKernels.ts (why: see there); arithmetic over whole activations (batch norm, the ReLU masks)
 * runs on the backend's SIMD ops instead, measured 3x faster than loops here (batchNorm.ts).
 */
import type { JsKernel } from './wasmKernels.js';
import { dropoutMaskInto } from './dropoutMask.js';

type Attrs = Record<string, unknown>;

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
 * Gradient of average pooling with window = stride = size ('valid'): each pooled gradient spread evenly
 * over its size×size window; rows and columns that fill no window get 0. Attrs size, xShape [n, h, w, c].
 */
const avgPoolGrad: JsKernel = {
  name: 'WmAvgPoolGrad',
  outputs(_inputs, attrs) {
    return [{ shape: attrs['xShape'] as number[], dtype: 'float32' }];
  },
  compute([dy], [dx], _inputs, attrs) {
    const [n, h, w, c] = attrs['xShape'] as [number, number, number, number];
    const k = attrs['size'] as number;
    const oh = Math.floor(h / k);
    const ow = Math.floor(w / k);
    const dyv = dy as Float32Array;
    const dxv = dx as Float32Array;
    dxv.fill(0);
    const inv = 1 / (k * k);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < oh * k; y++) {
        for (let x = 0; x < ow * k; x++) {
          const dst = ((b * h + y) * w + x) * c;
          const src = ((b * oh + Math.floor(y / k)) * ow + Math.floor(x / k)) * c;
          for (let ch = 0; ch < c; ch++) dxv[dst + ch] = dyv[src + ch]! * inv;
        }
      }
    }
  },
};

/** The wasm engine's dropout mask kernel (the masks are dropoutMask.ts's). Attrs: seed, layer, sampleOffset, rate. Input x (for its shape). */
const dropoutMask: JsKernel = {
  name: 'WmDropoutMask',
  outputs([x]) {
    return [{ shape: [...x!.shape], dtype: 'float32' }];
  },
  compute(_ins, [mask], [xInfo], attrs) {
    dropoutMaskInto(mask as Float32Array, xInfo!.shape[0]!, {
      rate: attrs['rate'] as number, seed: attrs['seed'] as number, layer: attrs['layer'] as number, sampleOffset: attrs['sampleOffset'] as number,
    });
  },
};

export const graphKernels: readonly JsKernel[] = [shortcut, shortcutGrad, globalAvgPoolGrad, avgPoolGrad, dropoutMask];
