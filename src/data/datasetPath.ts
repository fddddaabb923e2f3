/**
 * A dataset on disk, for the CLI (`weightmark train --data PATH`, and `watermark --data PATH`): the same
 * forms the service takes — an image-folder .zip, an .npz with x and y, or an IDX images file whose
 * labels file is given (`labels`) or found beside it by the MNIST naming (`train-images-idx3-ubyte[.gz]`
 * → `train-labels-idx1-ubyte[.gz]`: 'images' → 'labels', 'idx3'/'idx4' → 'idx1').
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { sniffZip } from '../formats/zip.js';
import { DatasetError } from './datasetErrors.js';
import { DEFAULT_DATASET_LIMITS, type DatasetLimits, type ImageSet } from './imageSet.js';
import { DEFAULT_HOLDOUT, parseUploadedDataset, summarise, trainingSplits, type DatasetSummary, type TrainingSplits, type UploadedFormat } from './uploadedDataset.js';

export interface DatasetOnDisk {
  readonly format: UploadedFormat;
  /** The files read (for IDX: images, then labels). */
  readonly files: readonly string[];
  readonly set: ImageSet;
  readonly summary: DatasetSummary;
  /** The training and held-out splits, normalised (`limit` keeps the first N training samples). */
  splits(opts?: { limit?: number }): TrainingSplits;
}

/** The labels file beside an IDX images file, by MNIST's naming; undefined when none is there. */
export function labelsFileFor(images: string): string | undefined {
  const name = basename(images);
  const guess = name.replace('images', 'labels').replace(/idx[34]/, 'idx1');
  if (guess === name) return undefined;
  const candidates = [guess, guess.endsWith('.gz') ? guess.slice(0, -3) : `${guess}.gz`].map((g) => join(dirname(images), g));
  return candidates.find((c) => existsSync(c));
}

/**
 * Reads and validates a dataset file (see the module doc), with its held-out split drawn as the service
 * would draw it for the same content.
 * @throws DatasetError for a bad dataset (or an IDX images file whose labels cannot be found); Node's
 *   errors for files that cannot be read.
 */
export function readDatasetPath(path: string, opts: { labels?: string; holdout?: number; limits?: DatasetLimits } = {}): DatasetOnDisk {
  if (statSync(path).isDirectory()) throw new DatasetError('WM_ERR_DATASET_UNKNOWN_FORMAT', `${path} is a folder; zip it (one folder per class) or give an .npz or IDX file`);
  const limits = opts.limits ?? DEFAULT_DATASET_LIMITS;
  const first = readBounded(path, limits);
  let files = [path];
  if (!sniffZip(first)) {
    const labels = opts.labels ?? labelsFileFor(path);
    if (!labels) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `${path} is not a zip or npz, so it is read as IDX images; no labels file was found beside it (expected by MNIST's naming, e.g. train-labels-idx1-ubyte): pass --labels FILE`);
    files = [path, labels];
  }
  const named = files.map((f, i) => ({ name: basename(f), bytes: i === 0 ? first : readBounded(f, limits) }));
  const { format, set } = parseUploadedDataset(named, limits);
  const { summary } = summarise(set, opts.holdout ?? DEFAULT_HOLDOUT);
  return { format, files, set, summary, splits: (o = {}) => trainingSplits(set, summary, basename(path), o) };
}

/**
 * A dataset file's bytes. A device or a pipe could be read forever, and a file past any image budget
 * (a float32 npz takes 4 bytes a value; a zip of tiny images ~1 KiB of file per image) would be read
 * only to be refused: both are refused unread.
 */
function readBounded(path: string, limits: DatasetLimits): Uint8Array {
  const st = statSync(path);
  if (!st.isFile()) throw new DatasetError('WM_ERR_DATASET_UNKNOWN_FORMAT', `${path} is not a regular file`);
  if (st.size > 4 * limits.maxDecodedBytes + 1024 * limits.maxSamples) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `${path} is ${st.size} bytes; a dataset within the decoded-image budget (${limits.maxDecodedBytes} bytes) cannot be that large`);
  return new Uint8Array(readFileSync(path));
}
