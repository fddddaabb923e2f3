/**
 * An image-folder zip: one folder per class (`cat/001.png`, `dog/x.jpg`), optionally all inside one
 * top-level folder (`pets/cat/001.png`, as zipping a folder makes). Class names are the folder names,
 * sorted (JavaScript's default order, by UTF-16 code unit), so a class's index does not depend on the
 * archive's entry order. PNG and JPEG (told apart by content); all images one size. The dataset is
 * greyscale (1 channel) when every image is (a grey PNG, or R = G = B everywhere), else RGB (3
 * channels; grey images are repeated over RGB).
 * macOS's `__MACOSX/` and `.DS_Store` entries are skipped; any other file that is not an image in a
 * class folder is refused, naming it.
 *
 * The zip is read with the model reader's bounds (src/formats/zip.ts: entry count, declared and
 * actual inflated sizes checked before inflating) sized from the dataset limits; names are checked
 * for traversal ('..', absolute, backslash, drive) although nothing is ever written to disk from them.
 */
import jpeg from 'jpeg-js';
import { listZipEntries, readZipEntry } from '../formats/zip.js';
import { decodePngPixels } from '../formats/png.js';
import { DEFAULT_READ_LIMITS } from '../formats/types.js';
import type { ZipEntry } from '../formats/types.js';
import { DatasetError, guardDataset } from './datasetErrors.js';
import { checkShape, validateImageSet, type DatasetLimits, type ImageSet } from './imageSet.js';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const IGNORED = /(^|\/)(__MACOSX\/|\.DS_Store$)/;

/** @throws DatasetError PATH for a name that could climb out of a folder. */
function checkEntryName(name: string): void {
  if (name.includes('\\') || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\0') || name.split('/').some((s) => s === '..' || s === '.')) {
    throw new DatasetError('WM_ERR_DATASET_PATH', `zip entry '${name.slice(0, 200)}' is not a plain relative path (no '..', '.', leading '/', '\\' or drive letter)`);
  }
}

interface Sample {
  readonly path: string;
  readonly className: string;
  readonly entry: ZipEntry;
}

/** The entries as (class folder, file), after the optional common top-level folder. */
function samplesOf(entries: readonly ZipEntry[]): Sample[] {
  const files = entries.filter((e) => !IGNORED.test(e.name));
  for (const e of files) checkEntryName(e.name);
  const parts = files.map((e) => e.name.split('/'));
  const top = parts[0]?.[0];
  const nested = parts.length > 0 && parts.every((p) => p.length === 3 && p[0] === top);
  return files.map((e, i) => {
    const p = nested ? parts[i]!.slice(1) : parts[i]!;
    if (p.length !== 2 || p[0] === '' || p[1] === '') {
      throw new DatasetError('WM_ERR_DATASET_MALFORMED', `zip entry '${e.name}' is not <class>/<image>: put each image in its class's folder (optionally all inside one top folder)`);
    }
    return { path: e.name, className: p[0]!, entry: e };
  });
}

interface Decoded {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB, or grey when channels is 1. */
  readonly pixels: Uint8Array;
  readonly channels: 1 | 3;
}

function decodeImage(bytes: Uint8Array, path: string, limits: DatasetLimits): Decoded {
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) return guardDataset(`'${path}'`, () => decodePngPixels(bytes, { maxSide: limits.maxSide }));
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    return guardDataset(`'${path}' (JPEG)`, () => {
      // jpeg-js bounds its own memory; the side check follows from the header it read
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: (limits.maxSide * limits.maxSide) / 1e6 + 0.01, maxMemoryUsageInMB: 64 });
      const n = img.width * img.height;
      const rgb = new Uint8Array(n * 3);
      for (let p = 0; p < n; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = img.data[p * 4 + k]!;
      return { width: img.width, height: img.height, pixels: rgb, channels: 3 as const };
    });
  }
  throw new DatasetError('WM_ERR_DATASET_MALFORMED', `zip entry '${path}' is neither a PNG nor a JPEG image; a class folder may hold only images`);
}

/** True when an RGB image is grey (R = G = B at every pixel): such JPEGs and PNGs count as 1 channel. */
function isGrey(img: Decoded): boolean {
  if (img.channels === 1) return true;
  const p = img.pixels;
  for (let i = 0; i < p.length; i += 3) if (p[i] !== p[i + 1] || p[i] !== p[i + 2]) return false;
  return true;
}

/**
 * Parses an image-folder zip into an ImageSet.
 * @throws DatasetError: PATH (traversal), MALFORMED (layout, not an image, mixed sizes, broken zip or
 *   image), TOO_LARGE (entries, inflated bytes, samples, sides, decoded bytes), CLASSES (see validateImageSet).
 */
export function parseImageFolderZip(bytes: Uint8Array, limits: DatasetLimits): ImageSet {
  const zipLimits = {
    ...DEFAULT_READ_LIMITS,
    // a class folder entry or two beyond the images, and the ignored macOS files
    maxZipEntries: limits.maxSamples * 2 + 64,
    // image files are compressed pixels: a quarter more than the decoded bound leaves room for headers
    maxInflatedBytes: Math.ceil(limits.maxDecodedBytes * 1.25),
    maxTotalBytes: Math.ceil(limits.maxDecodedBytes * 1.25),
  };
  const entries = guardDataset('zip', () => listZipEntries(bytes, zipLimits));
  const samples = samplesOf(entries);
  if (samples.length > limits.maxSamples) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `zip: ${samples.length} images; at most ${limits.maxSamples} are accepted (WEIGHTMARK_DATASET_MAX_SAMPLES)`);
  if (samples.length === 0) throw new DatasetError('WM_ERR_DATASET_MALFORMED', 'zip: no images; put each class in its own folder (cat/001.png, dog/001.png, …)');
  const classes = [...new Set(samples.map((s) => s.className))].sort();
  // sorted paths: the same folders zipped by two tools give the same dataset (and the same digest)
  samples.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  let first: { width: number; height: number; path: string } | undefined;
  // grey until the first colour image: then the images so far are repeated over RGB (a grey dataset
  // never takes 3 bytes a pixel, and the size limit is checked for what is held)
  let x: Uint8Array | undefined;
  let channels: 1 | 3 = 1;
  let inflated = 0;
  const y = new Uint8Array(samples.length);
  samples.forEach((s, i) => {
    const data = guardDataset(`zip entry '${s.path}'`, () => readZipEntry(bytes, s.entry));
    inflated += data.length;
    if (inflated > zipLimits.maxInflatedBytes) throw new DatasetError('WM_ERR_DATASET_TOO_LARGE', `zip: entries inflate to more than ${zipLimits.maxInflatedBytes} bytes, the limit`);
    const img = decodeImage(data, s.path, limits);
    if (!first) {
      first = { width: img.width, height: img.height, path: s.path };
      checkShape(samples.length, img.height, img.width, 1, limits, 'zip');
      x = new Uint8Array(samples.length * img.height * img.width);
    } else if (img.width !== first.width || img.height !== first.height) {
      throw new DatasetError('WM_ERR_DATASET_MALFORMED', `zip: '${s.path}' is ${img.width}x${img.height} but '${first.path}' is ${first.width}x${first.height}; all images must be one size`);
    }
    if (channels === 1 && !isGrey(img)) {
      checkShape(samples.length, img.height, img.width, 3, limits, 'zip');
      x = greyToRgb(x!);
      channels = 3;
    }
    const pixels = channels === 3 ? (img.channels === 3 ? img.pixels : greyToRgb(img.pixels)) : img.channels === 1 ? img.pixels : everyThird(img.pixels);
    x!.set(pixels, i * pixels.length);
    y[i] = classes.indexOf(s.className);
  });
  const { width, height } = first!;
  return validateImageSet({ n: samples.length, height, width, channels, x: x!, y, classes }, limits, 'zip');
}

function greyToRgb(grey: Uint8Array): Uint8Array {
  const out = new Uint8Array(grey.length * 3);
  for (let p = 0; p < grey.length; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = grey[p]!;
  return out;
}

function everyThird(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = rgb[3 * i]!;
  return out;
}
