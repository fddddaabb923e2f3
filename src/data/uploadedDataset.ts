/**
 * "Bring your own data": uploaded bytes → a validated ImageSet (sniffing the format), its summary (the
 * facts a dataset record keeps), and the normalised training and held-out `Dataset`s training uses.
 * Pure: no I/O (the service stores and reads the canonical bytes, the CLI reads files: datasetPath.ts).
 */
import { createHash } from 'node:crypto';
import { listZipEntries, sniffZip } from '../formats/zip.js';
import { DEFAULT_READ_LIMITS } from '../formats/types.js';
import type { Dataset } from './datasets.js';
import { DatasetError } from './datasetErrors.js';
import { parseImageFolderZip } from './datasetZip.js';
import { parseNpzDataset } from './datasetNpz.js';
import { parseIdxDataset, type NamedBytes } from './datasetIdx.js';
import { sniffGzip, sniffIdx } from './idx.js';
import { channelStats, classCounts, encodeCanonical, holdoutSplit, splitDigest, type DatasetLimits, type ImageSet } from './imageSet.js';

export type { NamedBytes } from './datasetIdx.js';
export type UploadedFormat = 'image-zip' | 'npz' | 'idx';

/** Default share of each class held out for evaluation (the request's `holdout`). */
export const DEFAULT_HOLDOUT = 0.1;
/** Bounds of `holdout`: at least one sample per class is held out, and at least half is trained on. */
export const HOLDOUT_RANGE = [0.01, 0.5] as const;

/**
 * Reads uploaded files as a dataset: one zip (an .npz when it holds a top-level `.npy`, else an
 * image-folder zip) or two IDX files (images and labels, plain or gzip).
 * @throws DatasetError: UNKNOWN_FORMAT when the files are none of these; the parser's errors otherwise.
 */
export function parseUploadedDataset(files: readonly NamedBytes[], limits: DatasetLimits): { format: UploadedFormat; set: ImageSet } {
  if (files.length === 1 && sniffZip(files[0]!.bytes)) {
    const bytes = files[0]!.bytes;
    return isNpz(bytes) ? { format: 'npz', set: parseNpzDataset(bytes, limits) } : { format: 'image-zip', set: parseImageFolderZip(bytes, limits) };
  }
  const idxLike = files.length > 0 && files.every((f) => sniffIdx(f.bytes) || sniffGzip(f.bytes));
  if (idxLike) return { format: 'idx', set: parseIdxDataset(files, limits) };
  throw new DatasetError(
    'WM_ERR_DATASET_UNKNOWN_FORMAT',
    `${files.length} file(s) (${files.map((f) => `'${f.name}'`).join(', ') || 'none'}) are not a dataset. Supported: one image-folder .zip (one folder per class, PNG or JPEG), one .npz with arrays x and y, or two IDX files (images and labels, optionally .gz)`,
  );
}

/** An npz names its arrays `<name>.npy` at the top level; an image-folder zip has folders of images. */
function isNpz(bytes: Uint8Array): boolean {
  try {
    return listZipEntries(bytes, DEFAULT_READ_LIMITS).some((e) => !e.name.includes('/') && e.name.endsWith('.npy'));
  } catch {
    return false; // the image-folder parser reports what is wrong with the zip
  }
}

/** What a dataset record keeps about its content (besides id, name, who and when). */
export interface DatasetSummary {
  /** sha256 of the canonical bytes: the dataset's identity. */
  readonly digest: string;
  /** [height, width, channels]: an architecture's input shape must equal it. */
  readonly shape: readonly [number, number, number];
  readonly samples: number;
  readonly classes: readonly string[];
  readonly classCounts: readonly number[];
  readonly split: { readonly holdout: number; readonly seed: number; readonly train: number; readonly heldOut: number; readonly digest: string };
  /** Per-channel mean and std of the training split's pixels in [0, 1]: training normalises with them. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/**
 * The canonical bytes of a dataset and its summary, with the held-out split drawn now (seeded by the
 * content digest, so the same content always splits the same way).
 */
export function summarise(set: ImageSet, holdout: number = DEFAULT_HOLDOUT): { canonical: Uint8Array; summary: DatasetSummary } {
  if (!(holdout >= HOLDOUT_RANGE[0] && holdout <= HOLDOUT_RANGE[1])) throw new Error(`holdout must be in [${HOLDOUT_RANGE.join(', ')}], got ${holdout}`);
  const canonical = encodeCanonical(set);
  const digest = createHash('sha256').update(canonical).digest('hex');
  const seed = Number.parseInt(digest.slice(0, 8), 16);
  const split = holdoutSplit(set.y, set.classes.length, holdout, seed);
  const { mean, std } = channelStats(set, split.train);
  return {
    canonical,
    summary: {
      digest, shape: [set.height, set.width, set.channels], samples: set.n, classes: set.classes, classCounts: classCounts(set.y, set.classes.length),
      split: { holdout, seed, train: split.train.length, heldOut: split.heldOut.length, digest: splitDigest(split) }, mean, std,
    },
  };
}

export interface TrainingSplits {
  readonly train: Dataset;
  readonly heldOut: Dataset;
}

/**
 * The training and held-out splits of a dataset as normalised float `Dataset`s (NHWC, each channel
 * (v/255 − mean) / std with the summary's statistics). `limit` keeps the first N training samples.
 * @throws Error when the split drawn now is not the one recorded (the split algorithm changed).
 */
export function trainingSplits(set: ImageSet, summary: Pick<DatasetSummary, 'split' | 'mean' | 'std'>, name: string, opts: { limit?: number } = {}): TrainingSplits {
  const split = holdoutSplit(set.y, set.classes.length, summary.split.holdout, summary.split.seed);
  if (splitDigest(split) !== summary.split.digest) throw new Error(`dataset ${name}: its held-out split no longer comes out as recorded (digest ${summary.split.digest.slice(0, 12)}…); it cannot be used for a comparable evaluation`);
  const trainIdx = opts.limit !== undefined ? split.train.subarray(0, Math.min(opts.limit, split.train.length)) : split.train;
  return { train: normalised(set, trainIdx, summary, name), heldOut: normalised(set, split.heldOut, summary, `${name} (held out)`) };
}

function normalised(set: ImageSet, indices: Uint32Array, stats: { mean: readonly number[]; std: readonly number[] }, name: string): Dataset {
  const c = set.channels;
  const per = set.height * set.width * c;
  const x = new Float32Array(indices.length * per);
  const y = new Uint8Array(indices.length);
  const scale = stats.std.map((s) => 1 / (255 * s));
  const shift = stats.mean.map((m, k) => m / stats.std[k]!);
  indices.forEach((src, i) => {
    const from = src * per;
    const to = i * per;
    for (let p = 0; p < per; p++) x[to + p] = set.x[from + p]! * scale[p % c]! - shift[p % c]!;
    y[i] = set.y[src]!;
  });
  return { name, n: indices.length, shape: [set.height, set.width, c], x, y };
}

