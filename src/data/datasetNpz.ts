/**
 * A NumPy .npz dataset: arrays `x` (images) and `y` (integer labels), other arrays ignored.
 *
 * `x` layouts, by rank and where a dimension of 1 or 3 stands:
 * - n×h×w: greyscale;
 * - n×h×w×c with c ∈ {1, 3}: NHWC (TensorFlow's, and the stored layout);
 * - n×c×h×w with c ∈ {1, 3} and the last dimension not 1 or 3: NCHW (PyTorch's), transposed to NHWC.
 *   An array that could be both (n×3×h×3) is taken as NHWC.
 * `x` values: any integer dtype with values in 0..255 is taken as is; floats in [0, 1] are scaled by
 * 255 (torchvision's ToTensor range), floats in [0, 255] taken as is (rounded); anything else (negative,
 * above 255, NaN — e.g. already normalised data) is refused, since the stored dataset is uint8 and is
 * normalised with its own statistics at training time.
 * `y`: n integers 0..K−1; the K classes are named "0".."K−1" and every one must have samples.
 */
import { listZipEntries, readZipEntry } from '../formats/zip.js';
import { readNpy, readNpyHeader } from '../formats/npy.js';
import { DEFAULT_READ_LIMITS, type ReadLimits } from '../formats/types.js';
import { DatasetError, guardDataset } from './datasetErrors.js';
import { checkShape, validateImageSet, type DatasetLimits, type ImageSet } from './imageSet.js';

type Layout = 'NHW' | 'NHWC' | 'NCHW';

/** The layout of an `x` of this shape. @throws DatasetError MALFORMED for any other shape. */
function npzLayout(shape: readonly number[]): { layout: Layout; n: number; height: number; width: number; channels: number } {
  const [n = 0, a = 0, b = 0, c = 0] = shape;
  if (shape.length === 3) return { layout: 'NHW', n, height: a, width: b, channels: 1 };
  if (shape.length === 4 && (c === 1 || c === 3)) return { layout: 'NHWC', n, height: a, width: b, channels: c };
  if (shape.length === 4 && (a === 1 || a === 3)) return { layout: 'NCHW', n, height: b, width: c, channels: a };
  throw new DatasetError('WM_ERR_DATASET_MALFORMED', `npz: x has shape [${shape.join(', ')}]; supported: n×h×w, n×h×w×c or n×c×h×w with c = 1 or 3`);
}

/**
 * Parses an .npz with `x` and `y` into an ImageSet.
 * @throws DatasetError: MALFORMED (no x or y, shapes, dtypes, value range, broken zip or npy),
 *   LABELS (non-integer or negative labels), TOO_LARGE, CLASSES (see validateImageSet).
 */
export function parseNpzDataset(bytes: Uint8Array, limits: DatasetLimits): ImageSet {
  const readLimits: ReadLimits = {
    ...DEFAULT_READ_LIMITS,
    maxZipEntries: 64,
    // float32 pixels take 4 bytes each, plus the labels
    maxInflatedBytes: limits.maxDecodedBytes * 4 + limits.maxSamples * 8 + 1024 * 1024,
    maxTensorElements: Math.max(limits.maxDecodedBytes, limits.maxSamples),
    maxTotalElements: limits.maxDecodedBytes + limits.maxSamples,
  };
  const entries = guardDataset('npz', () => listZipEntries(bytes, readLimits));
  const find = (name: string) => entries.find((e) => e.name === `${name}.npy` || e.name === name);
  const xe = find('x');
  const ye = find('y');
  if (!xe || !ye) {
    throw new DatasetError('WM_ERR_DATASET_MALFORMED', `npz: needs arrays 'x' (images) and 'y' (labels); found ${entries.map((e) => `'${e.name.replace(/\.npy$/, '')}'`).join(', ') || 'none'}`);
  }
  const xBytes = guardDataset("npz 'x'", () => readZipEntry(bytes, xe));
  const header = guardDataset("npz 'x'", () => readNpyHeader(xBytes, readLimits, "npz 'x'"));
  const shape = npzLayout(header.shape);
  checkShape(shape.n, shape.height, shape.width, shape.channels, limits, 'npz x');
  const pixels = toUint8(xBytes, header, shape.n * shape.height * shape.width * shape.channels, readLimits);
  const x = shape.layout === 'NCHW' ? nchwToNhwc(pixels, shape.n, shape.channels, shape.height, shape.width) : pixels;

  const yBytes = guardDataset("npz 'y'", () => readZipEntry(bytes, ye));
  const labels = guardDataset("npz 'y'", () => readNpy(yBytes, 'y', readLimits));
  if (labels.shape.length !== 1 || labels.shape[0] !== shape.n) {
    throw new DatasetError('WM_ERR_DATASET_MALFORMED', `npz: y has shape [${labels.shape.join(', ')}]; expected [${shape.n}] (one label per image of x)`);
  }
  const y = new Uint8Array(shape.n);
  let max = 0;
  for (let i = 0; i < shape.n; i++) {
    const v = labels.data[i]!;
    if (!Number.isInteger(v) || v < 0) throw new DatasetError('WM_ERR_DATASET_LABELS', `npz: y[${i}] is ${v}; labels must be integers 0..K−1`);
    if (v >= limits.maxClasses) throw new DatasetError('WM_ERR_DATASET_LABELS', `npz: y[${i}] is ${v}; at most ${limits.maxClasses} classes are accepted (labels 0..${limits.maxClasses - 1})`);
    y[i] = v;
    max = Math.max(max, v);
  }
  const classes = Array.from({ length: max + 1 }, (_, k) => String(k));
  return validateImageSet({ n: shape.n, height: shape.height, width: shape.width, channels: shape.channels as 1 | 3, x, y, classes }, limits, 'npz');
}

/** uint8 pixels from the x array: unsigned bytes directly, other dtypes through the npy reader. */
function toUint8(xBytes: Uint8Array, header: { descr: string; fortranOrder: boolean; dataOffset: number }, size: number, limits: ReadLimits): Uint8Array {
  if (/^[|<>=]u1$/.test(header.descr) && !header.fortranOrder) {
    if (header.dataOffset + size > xBytes.length) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `npz: x declares ${size} bytes of data, the array has ${xBytes.length - header.dataOffset}`);
    return xBytes.slice(header.dataOffset, header.dataOffset + size);
  }
  const isFloat = /^[|<>=]f\d$/.test(header.descr);
  const t = guardDataset("npz 'x'", () => readNpy(xBytes, 'x', limits));
  let max = 0;
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    if (!(v >= 0 && v <= 255)) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `npz: x[${i}] (flat) is ${v}; pixels must be in [0, 1] or [0, 255] (upload raw images, not normalised ones)`);
    if (v > max) max = v;
  }
  const scale = isFloat && max <= 1 ? 255 : 1;
  const out = new Uint8Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(t.data[i]! * scale);
  return out;
}

function nchwToNhwc(src: Uint8Array, n: number, c: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(src.length);
  const plane = h * w;
  for (let s = 0; s < n; s++) {
    const base = s * c * plane;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < plane; p++) out[base + p * c + ch] = src[base + ch * plane + p]!;
  }
  return out;
}
