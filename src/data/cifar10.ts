/**
 * CIFAR-10 (Krizhevsky 2009) from the JPEG archive the machines carry (`../shared/datasets/
 * cifar10-jpeg.tar.gz`: `train|test/<class>/NNNN.jpg`). Decoding 60,000 JPEGs takes tens of seconds, so it
 * happens once: the archive's sha256 is checked against its `.sha256` file, the images are decoded
 * (jpeg-js) into one uint8 NHWC cache file named by that digest, and later loads read the cache and
 * check the digest of its payload. Training normalises per channel (statistics measured on this training
 * split) and augments per batch (augmentBatch), so no float copy of the dataset is ever held.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { readTar } from './tar.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;
const SIDE = 32;
const CHANNELS = 3;
const PIXELS = SIDE * SIDE * CHANNELS;
const MAGIC = 'weightmark-dataset-cache/v1\n';

export interface ImageSplit {
  readonly n: number;
  /** uint8 pixels, NHWC, n × 32 × 32 × 3. */
  readonly x: Uint8Array;
  readonly y: Uint8Array;
}

export interface Cifar10 {
  readonly train: ImageSplit;
  readonly test: ImageSplit;
  /** Per-channel mean and std of the training pixels in [0, 1] (RGB). */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly archiveSha256: string;
  readonly cacheFile: string;
  /** True when this call decoded the archive (first use), false when it read the cache. */
  readonly built: boolean;
}

interface CacheHeader {
  archiveSha256: string;
  payloadSha256: string;
  train: number;
  test: number;
  mean: [number, number, number];
  std: [number, number, number];
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The archive: WEIGHTMARK_CIFAR10_ARCHIVE, or the shared datasets folder beside the repository. */
export function defaultCifar10Archive(): string {
  return process.env.WEIGHTMARK_CIFAR10_ARCHIVE ?? join(repoRoot, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz');
}

/** Where decoded datasets are cached: WEIGHTMARK_CACHE_DIR, or ~/.cache/weightmark. */
export function defaultCacheDir(): string {
  return process.env.WEIGHTMARK_CACHE_DIR ?? join(homedir(), '.cache', 'weightmark');
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Loads CIFAR-10, decoding the archive into the cache on first use.
 * @throws Error when the archive is missing or its checksum is wrong, an image is not a 32 × 32 RGB JPEG,
 *   a class folder is unknown, or a cache file is corrupt (it is then rebuilt on the next call after deletion).
 */
export function loadCifar10(opts: { archive?: string; cacheDir?: string; onProgress?: (done: number, total: number) => void } = {}): Cifar10 {
  const archive = opts.archive ?? defaultCifar10Archive();
  if (!existsSync(archive)) throw new Error(`CIFAR-10: no archive at ${archive} (set WEIGHTMARK_CIFAR10_ARCHIVE to cifar10-jpeg.tar.gz)`);
  const bytes = new Uint8Array(readFileSync(archive));
  const digest = sha256(bytes);
  const sumFile = `${archive}.sha256`;
  if (existsSync(sumFile)) {
    const expected = readFileSync(sumFile, 'utf8').trim().split(/\s+/)[0];
    if (expected !== digest) throw new Error(`CIFAR-10: ${archive} has sha256 ${digest}, ${sumFile} says ${expected}`);
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const cacheFile = join(cacheDir, `cifar10-${digest.slice(0, 16)}.bin`);
  if (existsSync(cacheFile)) return { ...readCache(cacheFile, digest), archiveSha256: digest, cacheFile, built: false };
  const decoded = decodeArchive(bytes, opts.onProgress);
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeCache(decoded, digest), { mode: 0o600 });
  renameSync(tmp, cacheFile);
  return { ...decoded, archiveSha256: digest, cacheFile, built: true };
}

function decodeArchive(gz: Uint8Array, onProgress?: (done: number, total: number) => void): Omit<Cifar10, 'archiveSha256' | 'cacheFile' | 'built'> {
  const files: { split: 'train' | 'test'; label: number; path: string; data: Uint8Array }[] = [];
  for (const e of readTar(gunzipSync(gz))) {
    if (e.type !== 'file') continue;
    const m = /^(?:\.\/)?(train|test)\/([^/]+)\/[^/]+\.jpe?g$/i.exec(e.path);
    if (!m) throw new Error(`CIFAR-10: unexpected file '${e.path}' in the archive (expected train|test/<class>/<name>.jpg)`);
    const label = (CIFAR10_CLASSES as readonly string[]).indexOf(m[2]!);
    if (label < 0) throw new Error(`CIFAR-10: '${e.path}' is in an unknown class folder '${m[2]}' (classes: ${CIFAR10_CLASSES.join(', ')})`);
    files.push({ split: m[1]!.toLowerCase() as 'train' | 'test', label, path: e.path, data: e.data });
  }
  // Archive order is the packer's; a sorted order makes the cache, and every seeded run, reproducible.
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const splits = { train: files.filter((f) => f.split === 'train'), test: files.filter((f) => f.split === 'test') };
  let done = 0;
  const decode = (list: typeof files): ImageSplit => {
    const x = new Uint8Array(list.length * PIXELS);
    const y = new Uint8Array(list.length);
    list.forEach((f, i) => {
      let img: { width: number; height: number; data: Uint8Array };
      try {
        img = jpeg.decode(f.data, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 16 });
      } catch (e) {
        throw new Error(`CIFAR-10: '${f.path}' is not a readable JPEG: ${(e as Error).message}`);
      }
      if (img.width !== SIDE || img.height !== SIDE) throw new Error(`CIFAR-10: '${f.path}' is ${img.width}x${img.height}, not 32x32`);
      for (let p = 0; p < SIDE * SIDE; p++) {
        x[i * PIXELS + p * 3] = img.data[p * 4]!;
        x[i * PIXELS + p * 3 + 1] = img.data[p * 4 + 1]!;
        x[i * PIXELS + p * 3 + 2] = img.data[p * 4 + 2]!;
      }
      y[i] = f.label;
      if (++done % 5000 === 0) onProgress?.(done, files.length);
    });
    return { n: list.length, x, y };
  };
  const train = decode(splits.train);
  const test = decode(splits.test);
  if (train.n === 0 || test.n === 0) throw new Error(`CIFAR-10: the archive holds ${train.n} training and ${test.n} test images; both splits are needed`);
  return { train, test, ...channelStats(train) };
}

/** Per-channel mean and std of a split's pixels, scaled to [0, 1]. */
export function channelStats(s: ImageSplit): { mean: [number, number, number]; std: [number, number, number] } {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < s.x.length; i++) {
    const v = s.x[i]! / 255;
    sum[i % 3]! += v;
    sq[i % 3]! += v * v;
  }
  const count = s.x.length / 3;
  const mean = sum.map((v) => v / count) as [number, number, number];
  const std = sq.map((v, c) => Math.sqrt(v / count - mean[c]! ** 2)) as [number, number, number];
  return { mean, std };
}

function encodeCache(d: Omit<Cifar10, 'archiveSha256' | 'cacheFile' | 'built'>, archiveSha256: string): Uint8Array {
  const payload = new Uint8Array(d.train.x.length + d.train.n + d.test.x.length + d.test.n);
  let o = 0;
  for (const part of [d.train.x, d.train.y, d.test.x, d.test.y]) {
    payload.set(part, o);
    o += part.length;
  }
  const header: CacheHeader = { archiveSha256, payloadSha256: sha256(payload), train: d.train.n, test: d.test.n, mean: [...d.mean], std: [...d.std] };
  const head = new TextEncoder().encode(`${MAGIC}${JSON.stringify(header)}\n`);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function readCache(file: string, archiveSha256: string): Omit<Cifar10, 'archiveSha256' | 'cacheFile' | 'built'> {
  const bytes = new Uint8Array(readFileSync(file));
  const corrupt = (why: string): Error => new Error(`CIFAR-10 cache ${file} is unusable (${why}); delete it to decode the archive again`);
  const magic = new TextEncoder().encode(MAGIC);
  if (bytes.length < magic.length || magic.some((b, i) => bytes[i] !== b)) throw corrupt('not a weightmark dataset cache');
  const nl = bytes.indexOf(10, magic.length);
  if (nl < 0) throw corrupt('no header');
  let h: CacheHeader;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(magic.length, nl))) as CacheHeader;
  } catch {
    throw corrupt('header is not JSON');
  }
  if (h.archiveSha256 !== archiveSha256) throw corrupt(`made from archive ${h.archiveSha256}, not ${archiveSha256}`);
  const payload = bytes.subarray(nl + 1);
  if (payload.length !== (h.train + h.test) * (PIXELS + 1)) throw corrupt(`payload of ${payload.length} bytes, expected ${(h.train + h.test) * (PIXELS + 1)}`);
  if (sha256(payload) !== h.payloadSha256) throw corrupt('payload checksum mismatch');
  let o = 0;
  const take = (len: number): Uint8Array => payload.subarray(o, (o += len));
  const train = { n: h.train, x: take(h.train * PIXELS), y: take(h.train) };
  const test = { n: h.test, x: take(h.test * PIXELS), y: take(h.test) };
  return { train, test, mean: h.mean, std: h.std };
}

/**
 * One training batch, normalised, NHWC float32: the standard CIFAR augmentation (zero-pad 4 pixels, a
 * random 32 × 32 crop, a horizontal flip with probability ½) drawn from `random` (seeded by the caller),
 * or none when `augment` is false (test batches).
 */
export function imageBatch(
  split: ImageSplit, indices: ArrayLike<number>, stats: { mean: readonly number[]; std: readonly number[] },
  opts: { augment: boolean; random?: () => number },
): { x: Float32Array; y: Uint8Array; n: number } {
  const n = indices.length;
  const x = new Float32Array(n * PIXELS);
  const y = new Uint8Array(n);
  const scale = [0, 1, 2].map((c) => 1 / (255 * stats.std[c]!));
  const shift = [0, 1, 2].map((c) => stats.mean[c]! / stats.std[c]!);
  if (opts.augment && !opts.random) throw new Error('imageBatch: augmentation needs a seeded random source');
  for (let b = 0; b < n; b++) {
    const src = indices[b]!;
    if (!(src >= 0 && src < split.n)) throw new Error(`imageBatch: index ${src} is outside the split (n = ${split.n})`);
    y[b] = split.y[src]!;
    const dy = opts.augment ? Math.floor(opts.random!() * 9) - 4 : 0;
    const dx = opts.augment ? Math.floor(opts.random!() * 9) - 4 : 0;
    const flip = opts.augment && opts.random!() < 0.5;
    const base = src * PIXELS;
    for (let r = 0; r < SIDE; r++) {
      const sr = r + dy;
      for (let c = 0; c < SIDE; c++) {
        const sc = (flip ? SIDE - 1 - c : c) + dx;
        const o = ((b * SIDE + r) * SIDE + c) * 3;
        for (let ch = 0; ch < 3; ch++) {
          // Outside the image is the zero padding, in pixel space: normalised it is −mean/std.
          const v = sr >= 0 && sr < SIDE && sc >= 0 && sc < SIDE ? split.x[base + (sr * SIDE + sc) * 3 + ch]! : 0;
          x[o + ch] = v * scale[ch]! - shift[ch]!;
        }
      }
    }
  }
  return { x, y, n };
}
