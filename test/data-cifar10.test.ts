/**
 * CIFAR-10 from its JPEG archive: the strict tar reader, the decode-once cache (checksums on the archive
 * and on the cache), and the batches training will read (per-channel normalisation, seeded pad-crop-flip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { CIFAR10_CLASSES, defaultCifar10Archive, imageBatch, loadCifar10, type ImageSplit } from '../src/data/cifar10.js';
import { readTar } from '../src/data/tar.js';
import { tempDir } from './http-helpers.js';
import { captured } from './cli-helpers.js';
import { runPrepareData } from '../src/cli/prepareData.js';

/** A 32 × 32 JPEG of one flat colour (JPEG keeps flat colours almost exactly). */
const flat = (r: number, g: number, b: number, side = 32): Buffer => {
  const data = Buffer.alloc(side * side * 4);
  for (let p = 0; p < side * side; p++) data.set([r, g, b, 255], p * 4);
  return jpeg.encode({ data, width: side, height: side }, 95).data;
};

/** A small archive in the real layout, made by the system's tar (GNU format, as the shared one). */
function archive(dir: string, files: Record<string, Buffer>): string {
  const root = join(dir, 'src');
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
  const out = join(dir, 'mini.tar.gz');
  execFileSync('tar', ['czf', out, '-C', root, 'train', 'test']);
  writeFileSync(`${out}.sha256`, `${createHash('sha256').update(readFileSync(out)).digest('hex')}  mini.tar.gz\n`);
  return out;
}

const mini = (dir: string): string => archive(dir, {
  'train/airplane/0000.jpg': flat(200, 10, 10),
  'train/airplane/0001.jpg': flat(190, 20, 20),
  'train/truck/0000.jpg': flat(10, 10, 200),
  'test/cat/0000.jpg': flat(10, 200, 10),
});

test('when a dataset archive is read, then every file and directory comes back with its path and bytes, and a damaged header is refused by name', () => {
  const dir = tempDir('tar');
  const gz = readFileSync(mini(dir));
  const tar = gunzipSync(gz);
  const entries = [...readTar(tar)];
  const files = entries.filter((e) => e.type === 'file').map((e) => e.path).sort();
  assert.deepEqual(files, ['test/cat/0000.jpg', 'train/airplane/0000.jpg', 'train/airplane/0001.jpg', 'train/truck/0000.jpg']);
  const one = entries.find((e) => e.path === 'train/truck/0000.jpg')!;
  assert.deepEqual(Buffer.from(one.data), readFileSync(join(dir, 'src/train/truck/0000.jpg')));
  const bad = new Uint8Array(tar);
  bad[1112] = bad[1112]! ^ 1; // inside the second header's name
  assert.throws(() => [...readTar(bad)], /checksum mismatch/);
  assert.throws(() => [...readTar(tar.subarray(0, 1000))], /past the end|ends inside a header/);
});

test('when CIFAR-10 is loaded twice, then the first call decodes the archive into the cache and the second reads the same images from it', () => {
  const dir = tempDir('cifar-mini');
  const file = mini(dir);
  const cacheDir = join(dir, 'cache');
  const a = loadCifar10({ archive: file, cacheDir });
  assert.equal(a.built, true);
  assert.equal(a.train.n, 3);
  assert.equal(a.test.n, 1);
  // Sorted by path: airplane/0000, airplane/0001, truck/0000.
  assert.deepEqual([...a.train.y], [0, 0, CIFAR10_CLASSES.indexOf('truck')]);
  assert.deepEqual([...a.test.y], [CIFAR10_CLASSES.indexOf('cat')]);
  const px = (s: ImageSplit, i: number, p: number): number[] => [...s.x.subarray(i * 3072 + p * 3, i * 3072 + p * 3 + 3)];
  for (const [got, want] of [[px(a.train, 0, 500), [200, 10, 10]], [px(a.train, 2, 0), [10, 10, 200]], [px(a.test, 0, 1023), [10, 200, 10]]] as const) {
    got.forEach((v, c) => assert.ok(Math.abs(v - want[c]!) <= 3, `pixel ${got} vs ${want}`));
  }
  assert.ok(Math.abs(a.mean[0] - (200 + 190 + 10) / 3 / 255) < 0.01, `mean ${a.mean}`);
  const b = loadCifar10({ archive: file, cacheDir });
  assert.equal(b.built, false);
  assert.deepEqual(b.train.x, a.train.x);
  assert.deepEqual(b.mean, a.mean);
});

test('when the archive or the cache is damaged, or an image is not what CIFAR-10 holds, then loading fails with an error that says what and where', () => {
  const dir = tempDir('cifar-bad');
  const file = mini(dir);
  const cacheDir = join(dir, 'cache');
  const { cacheFile } = loadCifar10({ archive: file, cacheDir });
  const cached = readFileSync(cacheFile);
  cached[cached.length - 5] = cached[cached.length - 5]! ^ 0xff;
  writeFileSync(cacheFile, cached);
  assert.throws(() => loadCifar10({ archive: file, cacheDir }), /payload checksum mismatch.*delete it/);
  writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  mini.tar.gz\n`);
  assert.throws(() => loadCifar10({ archive: file, cacheDir }), /sha256 .* says 0000/);
  const odd = tempDir('cifar-odd');
  assert.throws(() => loadCifar10({ archive: archive(odd, { 'train/unicorn/0000.jpg': flat(1, 2, 3), 'test/cat/0000.jpg': flat(1, 2, 3) }), cacheDir: join(odd, 'c') }), /unknown class folder 'unicorn'/);
  const small = tempDir('cifar-small');
  assert.throws(() => loadCifar10({ archive: archive(small, { 'train/cat/0000.jpg': flat(1, 2, 3, 16), 'test/cat/0000.jpg': flat(1, 2, 3) }), cacheDir: join(small, 'c') }), /train\/cat\/0000\.jpg' is 16x16/);
  const notJpeg = tempDir('cifar-notjpeg');
  assert.throws(() => loadCifar10({ archive: archive(notJpeg, { 'train/cat/0000.jpg': Buffer.from('not a jpeg'), 'test/cat/0000.jpg': flat(1, 2, 3) }), cacheDir: join(notJpeg, 'c') }), /'train\/cat\/0000\.jpg' is not a readable JPEG/);
  assert.throws(() => loadCifar10({ archive: join(dir, 'missing.tar.gz') }), /no archive at .*WEIGHTMARK_CIFAR10_ARCHIVE/);
});

test('when a batch is drawn, then it is normalised per channel, and the augmentation pads with zeros, crops, flips and repeats under the same seed', () => {
  // One image whose pixel (r, c) holds r in red, c in green and 7 in blue.
  const x = new Uint8Array(3072);
  for (let r = 0; r < 32; r++) for (let c = 0; c < 32; c++) x.set([r, c, 7], (r * 32 + c) * 3);
  const split: ImageSplit = { n: 1, x, y: Uint8Array.of(4) };
  const stats = { mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 0.125] };
  const plain = imageBatch(split, [0], stats, { augment: false });
  assert.equal(plain.y[0], 4);
  const at = (b: Float32Array, r: number, c: number, ch: number): number => b[(r * 32 + c) * 3 + ch]!;
  assert.ok(Math.abs(at(plain.x, 5, 9, 0) - (5 / 255 - 0.1) / 0.5) < 1e-6);
  assert.ok(Math.abs(at(plain.x, 5, 9, 1) - (9 / 255 - 0.2) / 0.25) < 1e-6);
  const draw = (seed: number) => imageBatch(split, new Array(64).fill(0), stats, { augment: true, random: uniform(seed) });
  const one = draw(3);
  assert.deepEqual(one.x, draw(3).x, 'same seed, same batch');
  assert.notDeepEqual(one.x, draw(4).x);
  let flipped = 0;
  let padded = 0;
  for (let b = 0; b < 64; b++) {
    const img = one.x.subarray(b * 3072, (b + 1) * 3072);
    // Green runs along columns: increasing left to right unless flipped (read away from the padding).
    const g0 = at(img, 16, 14, 1);
    const g1 = at(img, 16, 17, 1);
    if (g1 < g0) flipped++;
    assert.ok(Math.abs(Math.abs(g1 - g0) - 3 / 255 / 0.25) < 1e-5, 'a crop shifts, it does not scale');
    if (Math.abs(at(img, 0, 0, 2) - (0 - 0.3) / 0.125) < 1e-6 || Math.abs(at(img, 31, 31, 2) - (0 - 0.3) / 0.125) < 1e-6) padded++;
  }
  assert.ok(flipped > 16 && flipped < 48, `${flipped} of 64 flipped`);
  assert.ok(padded > 32, `${padded} of 64 show the zero padding in a corner`);
  assert.throws(() => imageBatch(split, [0], stats, { augment: true }), /seeded random source/);
  assert.throws(() => imageBatch(split, [1], stats, { augment: false }), /outside the split/);
});

/** A seeded uniform source in [0, 1) (mulberry32): what a training loop would pass. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const real = defaultCifar10Archive();
test('when the shared CIFAR-10 archive is decoded, then it holds 50,000 training and 10,000 test images, 5,000 and 1,000 per class', { skip: existsSync(real) ? false : `no archive at ${real}` }, () => {
  const c = loadCifar10({ cacheDir: tempDir('cifar-real') });
  assert.equal(c.train.n, 50_000);
  assert.equal(c.test.n, 10_000);
  for (const [s, per] of [[c.train, 5000], [c.test, 1000]] as const) {
    const counts = new Array(10).fill(0);
    for (const l of s.y) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(per));
  }
  // The published statistics of the original PNG data are (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616); JPEG moves them a little.
  [0.4914, 0.4822, 0.4465].forEach((m, i) => assert.ok(Math.abs(c.mean[i]! - m) < 0.005, `mean ${c.mean}`));
  [0.2470, 0.2435, 0.2616].forEach((s, i) => assert.ok(Math.abs(c.std[i]! - s) < 0.005, `std ${c.std}`));
});

test('when `weightmark prepare-data` runs twice, then it decodes once and reports what the cache holds; another dataset name is refused', async () => {
  const dir = tempDir('cifar-cli');
  const file = mini(dir);
  const args = ['--dataset', 'cifar10', '--archive', file, '--cache-dir', join(dir, 'cache'), '--json'];
  const first = await captured(() => runPrepareData(args));
  assert.equal(first.code, 0);
  assert.deepEqual((({ train, test, built }) => ({ train, test, built }))(JSON.parse(first.out)), { train: 3, test: 1, built: true });
  const again = JSON.parse((await captured(() => runPrepareData(args))).out);
  assert.equal(again.built, false);
  assert.equal(again.cacheFile, JSON.parse(first.out).cacheFile);
  await assert.rejects(() => runPrepareData(['--dataset', 'mnist']), /--dataset must be one of cifar10/);
});
