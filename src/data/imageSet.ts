/**
 * An uploaded dataset once parsed, whatever it came as (image-folder zip, .npz, IDX): uint8 images NHWC
 * with integer labels and class names, plus what every parser checks the same way (limits, labels,
 * classes), its canonical bytes (what is stored and hashed), its seeded held-out split and its
 * per-channel statistics. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { shuffledIndices } from './datasets.js';
import { DatasetError } from './datasetErrors.js';

export interface ImageSet {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  /** uint8 pixels, NHWC, n × height × width × channels. */
  readonly x: Uint8Array;
  /** Class index of each sample, 0 ≤ y < classes.length. */
  readonly y: Uint8Array;
  readonly classes: readonly string[];
}

/** Bounds every parser enforces before it allocates; exceeding one is 413 WM_ERR_DATASET_TOO_LARGE. */
export interface DatasetLimits {
  readonly maxSamples: number;
  /** Largest image height and width. */
  readonly maxSide: number;
  /** n × h × w × c: the decoded images held in memory (and stored). */
  readonly maxDecodedBytes: number;
  /** Labels are stored as bytes. */
  readonly maxClasses: number;
  /** Fewer samples than this in a class cannot give both a training and a held-out share. */
  readonly minPerClass: number;
}

export const DEFAULT_DATASET_LIMITS: DatasetLimits = Object.freeze({
  maxSamples: 100_000,
  maxSide: 256,
  maxDecodedBytes: 512 * 1024 * 1024,
  maxClasses: 256,
  minPerClass: 5,
});

/** @throws DatasetError TOO_LARGE / MALFORMED when a dataset of this shape may not be decoded. */
export function checkShape(n: number, height: number, width: number, channels: number, limits: DatasetLimits, what: string): asserts channels is 1 | 3 {
  if (channels !== 1 && channels !== 3) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `${what}: images have ${channels} channels; supported: 1 (greyscale) or 3 (RGB)`);
  if (![n, height, width].every((d) => Number.isInteger(d) && d >= 1)) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `${what}: shape [${n}, ${height}, ${width}, ${channels}] has an empty dimension`);
  if (n > limits.maxSamples) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `${what}: ${n} samples; at most ${limits.maxSamples} are accepted (WEIGHTMARK_DATASET_MAX_SAMPLES)`);
  if (height > limits.maxSide || width > limits.maxSide) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `${what}: images of ${height}x${width}; at most ${limits.maxSide}x${limits.maxSide} are accepted`);
  const bytes = n * height * width * channels;
  if (bytes > limits.maxDecodedBytes) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `${what}: ${n}x${height}x${width}x${channels} images are ${bytes} bytes decoded; at most ${limits.maxDecodedBytes} are accepted (WEIGHTMARK_DATASET_MAX_BYTES)`);
}

/** Samples per class. */
export function classCounts(y: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const label of y) counts[label]!++;
  return counts;
}

/**
 * Checks what every dataset must hold whatever its format, and returns it.
 * @throws DatasetError: MALFORMED (sizes disagree), LABELS (a label beyond the classes),
 *   CLASSES (fewer than 2 classes, more than maxClasses, or a class with fewer than minPerClass samples).
 */
export function validateImageSet(set: ImageSet, limits: DatasetLimits, what: string): ImageSet {
  checkShape(set.n, set.height, set.width, set.channels, limits, what);
  if (set.x.length !== set.n * set.height * set.width * set.channels) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `${what}: ${set.x.length} pixel values for ${set.n}x${set.height}x${set.width}x${set.channels}`);
  if (set.y.length !== set.n) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `${what}: ${set.y.length} labels for ${set.n} images`);
  const k = set.classes.length;
  if (k > limits.maxClasses) throw new DatasetError('WM_ERR_DATASET_CLASSES', `${what}: ${k} classes; at most ${limits.maxClasses} are accepted`);
  if (k < 2) throw new DatasetError('WM_ERR_DATASET_CLASSES', `${what}: ${k} class${k === 1 ? ` ('${set.classes[0]}')` : 'es'}; a classifier needs at least 2`);
  const bad = set.y.findIndex((label) => label >= k);
  if (bad >= 0) throw new DatasetError('WM_ERR_DATASET_LABELS', `${what}: sample ${bad} has label ${set.y[bad]}; labels must be 0..${k - 1} (${k} classes)`);
  const counts = classCounts(set.y, k);
  const thin = counts.findIndex((c) => c < limits.minPerClass);
  if (thin >= 0) {
    throw new DatasetError('WM_ERR_DATASET_CLASSES', `${what}: class ${thin} ('${set.classes[thin]}') has ${counts[thin]} sample${counts[thin] === 1 ? '' : 's'}; every class needs at least ${limits.minPerClass} (some to train on, some held out)`);
  }
  return set;
}

// ---- canonical bytes ------------------------------------------------------------------------------

const MAGIC = 'weightmark-dataset/v1\n';

interface CanonicalHeader {
  n: number;
  height: number;
  width: number;
  channels: 1 | 3;
  classes: string[];
}

/**
 * The one byte form of a dataset, whatever it was uploaded as: a magic line, a JSON header line
 * (shape and class names), the pixels, the labels. Its sha256 is the dataset's identity, so the same
 * images and labels uploaded as a zip or as an .npz are one dataset.
 */
export function encodeCanonical(set: ImageSet): Uint8Array {
  const header: CanonicalHeader = { n: set.n, height: set.height, width: set.width, channels: set.channels, classes: [...set.classes] };
  const head = new TextEncoder().encode(`${MAGIC}${JSON.stringify(header)}\n`);
  const out = new Uint8Array(head.length + set.x.length + set.y.length);
  out.set(head);
  out.set(set.x, head.length);
  out.set(set.y, head.length + set.x.length);
  return out;
}

/** @throws Error when the bytes are not canonical dataset bytes (a damaged store, not a client mistake). */
export function decodeCanonical(bytes: Uint8Array): ImageSet {
  const magic = new TextEncoder().encode(MAGIC);
  if (bytes.length < magic.length || magic.some((b, i) => bytes[i] !== b)) throw new Error('not a canonical weightmark dataset (magic line missing)');
  const nl = bytes.indexOf(10, magic.length);
  if (nl < 0) throw new Error('canonical dataset: no header line');
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(magic.length, nl))) as CanonicalHeader;
  const pixels = h.n * h.height * h.width * h.channels;
  const body = bytes.subarray(nl + 1);
  if (body.length !== pixels + h.n) throw new Error(`canonical dataset: ${body.length} bytes after the header, expected ${pixels + h.n}`);
  return { n: h.n, height: h.height, width: h.width, channels: h.channels, classes: h.classes, x: body.subarray(0, pixels), y: body.subarray(pixels) };
}

// ---- held-out split -------------------------------------------------------------------------------

export interface HoldoutSplit {
  /** Sample indices, ascending. */
  readonly train: Uint32Array;
  readonly heldOut: Uint32Array;
}

/**
 * A stratified split: in each class, a seeded shuffle puts round(count × fraction) samples (at least 1,
 * at most count − 1) in the held-out split. Stratified so that a small dataset's held-out accuracy
 * covers every class in its proportion; seeded so the split is a function of (labels, fraction, seed)
 * and can be recomputed wherever the dataset is loaded (its digest is recorded to catch any drift).
 */
export function holdoutSplit(y: Uint8Array, classes: number, fraction: number, seed: number): HoldoutSplit {
  const members: number[][] = Array.from({ length: classes }, () => []);
  y.forEach((label, i) => members[label]!.push(i));
  const held: number[] = [];
  members.forEach((list, c) => {
    const take = Math.min(list.length - 1, Math.max(1, Math.round(list.length * fraction)));
    const order = shuffledIndices(list.length, (seed + c * 0x9e3779b1) >>> 0);
    for (let k = 0; k < take; k++) held.push(list[order[k]!]!);
  });
  const isHeld = new Uint8Array(y.length);
  for (const i of held) isHeld[i] = 1;
  const train: number[] = [];
  const heldOut: number[] = [];
  for (let i = 0; i < y.length; i++) (isHeld[i] ? heldOut : train).push(i);
  return { train: Uint32Array.from(train), heldOut: Uint32Array.from(heldOut) };
}

/** sha256 of the held-out indices (uint32 little-endian): recorded at upload, checked at every load. */
export function splitDigest(split: HoldoutSplit): string {
  const le = new Uint8Array(split.heldOut.length * 4);
  const dv = new DataView(le.buffer);
  split.heldOut.forEach((v, i) => dv.setUint32(i * 4, v, true));
  return createHash('sha256').update(le).digest('hex');
}

// ---- statistics -----------------------------------------------------------------------------------

/** Per-channel mean and std of the pixels (scaled to [0, 1]) of the samples `indices`. */
export function channelStats(set: ImageSet, indices: ArrayLike<number>): { mean: number[]; std: number[] } {
  const c = set.channels;
  const per = set.height * set.width * c;
  const sum = new Array<number>(c).fill(0);
  const sq = new Array<number>(c).fill(0);
  for (let k = 0; k < indices.length; k++) {
    const base = indices[k]! * per;
    for (let p = 0; p < per; p++) {
      const v = set.x[base + p]! / 255;
      sum[p % c]! += v;
      sq[p % c]! += v * v;
    }
  }
  const count = indices.length * set.height * set.width;
  const mean = sum.map((s) => s / Math.max(1, count));
  // a constant channel would divide by 0 when normalising: 1 keeps it at its centred value
  const std = sq.map((s, ch) => Math.sqrt(Math.max(0, s / Math.max(1, count) - mean[ch]! ** 2)) || 1);
  return { mean, std };
}
