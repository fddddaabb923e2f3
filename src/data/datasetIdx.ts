/**
 * An IDX dataset (LeCun's MNIST format): an images file (n×h×w, or n×h×w×c with c = 1 or 3) and a labels
 * file (n), either of them gzip-compressed, given in any order (told apart by rank). The classes are
 * named "0".."K−1" for the labels 0..K−1 found, and every one must have samples.
 */
import { gunzipSync } from 'node:zlib';
import { parseIdx, sniffGzip, type IdxArray } from './idx.js';
import { DatasetError, guardDataset } from './datasetErrors.js';
import { checkShape, validateImageSet, type DatasetLimits, type ImageSet } from './imageSet.js';

export interface NamedBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * Parses an images + labels pair of IDX files into an ImageSet.
 * @throws DatasetError: MALFORMED (not two IDX files of ranks 3-4 and 1, counts disagree, broken or
 *   truncated file), TOO_LARGE (a gzip file inflating past the limit, or the dataset limits), LABELS, CLASSES.
 */
export function parseIdxDataset(files: readonly NamedBytes[], limits: DatasetLimits): ImageSet {
  if (files.length !== 2) {
    throw new DatasetError('WM_ERR_DATASET_MALFORMED', `IDX: ${files.length} file(s) given; an IDX dataset is two files, the images (e.g. train-images-idx3-ubyte) and the labels (train-labels-idx1-ubyte)`);
  }
  // the largest file an IDX dataset within the limits can be, header included
  const cap = limits.maxDecodedBytes + 64;
  const parsed = files.map((f) => ({ name: f.name, idx: guardDataset(`IDX '${f.name}'`, () => parseIdx(gunzipCapped(f, cap))) }));
  const images = parsed.find((p) => p.idx.dims.length >= 3);
  const labels = parsed.find((p) => p.idx.dims.length === 1);
  if (!images || !labels) {
    throw new DatasetError('WM_ERR_DATASET_MALFORMED', `IDX: expected one images file (rank 3 or 4) and one labels file (rank 1); got ${parsed.map((p) => `'${p.name}' of rank ${p.idx.dims.length}`).join(' and ')}`);
  }
  const [n = 0, height = 0, width = 0, channels = 1] = images.idx.dims;
  checkShape(n, height, width, channels, limits, `IDX '${images.name}'`);
  if (labels.idx.dims[0] !== n) throw new DatasetError('WM_ERR_DATASET_MALFORMED', `IDX: '${labels.name}' has ${labels.idx.dims[0]} labels for the ${n} images of '${images.name}'`);
  return validateImageSet({ n, height, width, channels, x: images.idx.data, y: labels.idx.data, classes: classNames(labels.idx, limits) }, limits, 'IDX');
}

/** The file's bytes, inflated when gzip-compressed, at most `cap` of them (a gzip bomb stops there). */
function gunzipCapped(f: NamedBytes, cap: number): Uint8Array {
  if (!sniffGzip(f.bytes)) return f.bytes;
  try {
    return gunzipSync(f.bytes, { maxOutputLength: cap });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `IDX '${f.name}': inflates past ${cap} bytes, the largest IDX file within the dataset limits`);
    throw new DatasetError('WM_ERR_DATASET_MALFORMED', `IDX '${f.name}': not a valid gzip stream (${(e as Error).message})`);
  }
}

function classNames(labels: IdxArray, limits: DatasetLimits): string[] {
  let max = 0;
  for (const v of labels.data) max = Math.max(max, v);
  if (max + 1 > limits.maxClasses) throw new DatasetError('WM_ERR_DATASET_LABELS', `IDX: label ${max}; at most ${limits.maxClasses} classes are accepted`);
  return Array.from({ length: max + 1 }, (_, k) => String(k));
}
