import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUploadedDataset, summarise, trainingSplits } from '../src/data/uploadedDataset.js';
import { DatasetError } from '../src/data/datasetErrors.js';
import { DEFAULT_DATASET_LIMITS, decodeCanonical, holdoutSplit, type DatasetLimits } from '../src/data/imageSet.js';
import { writeZipStored } from '../src/formats/zip.js';
import {
  deflatedZip, f32npy, i64npy, idxOf, imageFolderZip, jpegOf, labels, noiseImage, npzOf, pngOf, u8npy,
} from './dataset-helpers.js';

const L = DEFAULT_DATASET_LIMITS;
const one = (name: string, bytes: Uint8Array) => [{ name, bytes }];

function assertDatasetError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('when an image-folder zip of grey PNGs is parsed, then classes are the sorted folder names, labels follow them and pixels are kept', () => {
  const zip = imageFolderZip({ classes: ['dog', 'cat', 'bird'], perClass: 6, h: 8, w: 10 });
  const { format, set } = parseUploadedDataset(one('pets.zip', zip), L);
  assert.equal(format, 'image-zip');
  assert.deepEqual(set.classes, ['bird', 'cat', 'dog']);
  assert.deepEqual([set.n, set.height, set.width, set.channels], [18, 8, 10, 1]);
  // sorted by path: bird/000 is sample 0 (made as class index 2 of the builder, image 0)
  assert.equal(set.y[0], 0);
  assert.deepEqual([...set.x.subarray(0, 80)], [...noiseImage(8, 10, 1, 2 * 1000 + 0)]);
  assert.deepEqual([...set.y].filter((v) => v === 2).length, 6);
});

test('when the zip has one top folder, RGB PNGs, or JPEGs, then the top folder is skipped and colour gives 3 channels', () => {
  const rgb = parseUploadedDataset(one('a.zip', imageFolderZip({ classes: ['a', 'b'], perClass: 5, c: 3, top: 'data' })), L).set;
  assert.deepEqual([rgb.n, rgb.channels], [10, 3]);
  assert.deepEqual([...rgb.x.subarray(0, 192)], [...noiseImage(8, 8, 3, 0)]);
  const jpg = parseUploadedDataset(one('j.zip', imageFolderZip({ classes: ['x', 'y'], perClass: 5, jpeg: true, h: 16, w: 16 })), L).set;
  assert.deepEqual([jpg.n, jpg.height, jpg.width, jpg.channels], [10, 16, 16, 3]);
});

test('when every image is grey (grey PNGs, RGB with R = G = B, grey JPEGs), then the dataset is one channel, and one colour image makes it RGB; macOS entries are skipped', () => {
  const grey = noiseImage(8, 8, 1, 3);
  const rgb = new Uint8Array(8 * 8 * 3).map((_, i) => grey[Math.floor(i / 3)]!);
  const files = [
    ...[0, 1, 2, 3, 4].map((i) => ({ name: `a/${i}.png`, data: pngOf(8, 8, 1, noiseImage(8, 8, 1, i)) })),
    ...[0, 1, 2, 3, 4].map((i) => ({ name: `b/${i}.png`, data: pngOf(8, 8, 3, rgb) })),
    { name: '__MACOSX/a/._0.png', data: new Uint8Array([1, 2, 3]) },
    { name: 'a/.DS_Store', data: new Uint8Array([0]) },
  ];
  const set = parseUploadedDataset(one('g.zip', writeZipStored(files)), L).set;
  assert.equal(set.channels, 1);
  assert.deepEqual([...set.x.subarray(5 * 64, 6 * 64)], [...grey]);
  // grey images first, then a colour one: all become RGB, the grey ones repeated over the channels
  const colour = noiseImage(8, 8, 3, 7);
  const mixed = parseUploadedDataset(one('m.zip', writeZipStored([...files.slice(0, 9), { name: 'b/9.png', data: pngOf(8, 8, 3, colour) }])), L).set;
  assert.equal(mixed.channels, 3);
  assert.deepEqual([...mixed.x.subarray(0, 3)], Array(3).fill(noiseImage(8, 8, 1, 0)[0]));
  assert.deepEqual([...mixed.x.subarray(9 * 192, 10 * 192)], [...colour]);
  // a JPEG of grey pixels decodes R = G = B (up to its own rounding): it counts as grey
  const jpegGrey = parseUploadedDataset(one('j.zip', writeZipStored([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ name: `${i % 2}/${i}.jpg`, data: jpegOf(8, 8, new Uint8Array(192).fill(40 + i * 10)) })))), L).set;
  assert.equal(jpegGrey.channels, 1);
});

test('when an npz holds x and y, then uint8 NHW, float [0, 1] NHWC and NCHW all read to the same canonical dataset', () => {
  const n = 10;
  const h = 4;
  const w = 5;
  const px = noiseImage(h, w * n, 3, 9); // n images, NHWC
  const y = labels(2, 5);
  const nhwc = parseUploadedDataset(one('a.npz', npzOf({ x: u8npy([n, h, w, 3], px), y: i64npy([n], y) })), L);
  assert.equal(nhwc.format, 'npz');
  const asFloat = Float32Array.from(px, (v) => v / 255);
  const fromFloat = parseUploadedDataset(one('b.npz', npzOf({ x: f32npy([n, h, w, 3], asFloat), y: i64npy([n], y) })), L).set;
  const nchw = new Uint8Array(px.length);
  for (let s = 0; s < n; s++) for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) nchw[s * 3 * h * w + c * h * w + p] = px[s * 3 * h * w + p * 3 + c]!;
  const fromNchw = parseUploadedDataset(one('c.npz', npzOf({ x: u8npy([n, 3, h, w], nchw), y: i64npy([n], y), extra: u8npy([1], new Uint8Array(1)) })), L).set;
  const digest = (s: typeof fromFloat) => summarise(s).summary.digest;
  assert.equal(digest(fromFloat), digest(nhwc.set));
  assert.equal(digest(fromNchw), digest(nhwc.set));
  assert.deepEqual(nhwc.set.classes, ['0', '1']);
  const grey = parseUploadedDataset(one('d.npz', npzOf({ x: u8npy([n, h, w], px.subarray(0, n * h * w)), y: i64npy([n], y) })), L).set;
  assert.deepEqual([grey.height, grey.width, grey.channels], [h, w, 1]);
});

test('when IDX images and labels are given (gzipped, in either order), then they read as the npz of the same data does', () => {
  const n = 15;
  const px = noiseImage(6, 6 * n, 1, 4);
  const y = Uint8Array.from(labels(3, 5));
  const idx = parseUploadedDataset([{ name: 'l.gz', bytes: idxOf([n], y, true) }, { name: 'i', bytes: idxOf([n, 6, 6], px) }], L);
  assert.equal(idx.format, 'idx');
  const npz = parseUploadedDataset(one('a.npz', npzOf({ x: u8npy([n, 6, 6], px), y: i64npy([n], [...y]) })), L).set;
  assert.equal(summarise(idx.set).summary.digest, summarise(npz).summary.digest);
});

test('when a dataset is malformed, then each case is refused with its code and a message naming what is wrong', () => {
  const png = (seed: number, h = 8, w = 8) => pngOf(h, w, 1, noiseImage(h, w, 1, seed));
  const five = (cls: string, h = 8) => [0, 1, 2, 3, 4].map((i) => ({ name: `${cls}/${i}.png`, data: png(i, h) }));
  // mixed sizes
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), ...five('b', 9)])), L), 'WM_ERR_DATASET_MALFORMED', /'b\/0.png' is 8x9 but 'a\/0.png' is 8x8; all images must be one size/);
  // path traversal
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), { name: '../b/x.png', data: png(1) }])), L), 'WM_ERR_DATASET_PATH', /'\.\.\/b\/x\.png'/);
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), { name: '/etc/x.png', data: png(1) }])), L), 'WM_ERR_DATASET_PATH');
  // a non-image file in a class folder
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), ...five('b'), { name: 'b/notes.txt', data: new TextEncoder().encode('hello') }])), L), 'WM_ERR_DATASET_MALFORMED', /'b\/notes.txt' is neither a PNG nor a JPEG/);
  // a file outside any class folder
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), ...five('b'), { name: 'README.png', data: png(1) }])), L), 'WM_ERR_DATASET_MALFORMED', /not <class>\/<image>/);
  // a class with too few samples, and a single class
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), { name: 'b/0.png', data: png(1) }])), L), 'WM_ERR_DATASET_CLASSES', /class 1 \('b'\) has 1 sample; every class needs at least 5/);
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored(five('a'))), L), 'WM_ERR_DATASET_CLASSES', /1 class \('a'\); a classifier needs at least 2/);
  // too many entries / samples for the limits
  const small: DatasetLimits = { ...L, maxSamples: 8 };
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored([...five('a'), ...five('b')])), small), 'WM_ERR_DATASET_TOO_LARGE', /10 images; at most 8/);
  const many = Array.from({ length: 100 }, (_, i) => ({ name: `a/${i}.png`, data: png(i) }));
  assertDatasetError(() => parseUploadedDataset(one('z', writeZipStored(many)), small), 'WM_ERR_DATASET_TOO_LARGE', /zip: 100 entries; at most 80 are accepted/);
  // zip bombs: an entry inflating past its declared size, and declared sizes past the limit
  const bomb = deflatedZip([...five('a').map((f) => ({ ...f })), { name: 'b/0.png', data: new Uint8Array(4 << 20), declaredSize: 1000 }]);
  assertDatasetError(() => parseUploadedDataset(one('z', bomb), L), 'WM_ERR_DATASET_TOO_LARGE', /inflates past its declared 1000 bytes/);
  const declared = deflatedZip([...five('a'), { name: 'b/0.png', data: new Uint8Array(10), declaredSize: 2 ** 31 }]);
  assertDatasetError(() => parseUploadedDataset(one('z', declared), { ...L, maxDecodedBytes: 1 << 20 }), 'WM_ERR_DATASET_TOO_LARGE', /uncompressed bytes/);
  // npz: labels beyond, a gap (empty class), not integers, negative; normalised pixels; 4 channels; no y
  const x = u8npy([10, 4, 4], new Uint8Array(160));
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x, y: i64npy([10], [0, 0, 0, 0, 0, 2, 2, 2, 2, 2]) })), L), 'WM_ERR_DATASET_CLASSES', /class 1 \('1'\) has 0 samples/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x, y: f32npy([10], Float32Array.from([0, 1, 0, 1, 0, 1, 0, 1, 0, 0.5])) })), L), 'WM_ERR_DATASET_LABELS', /y\[9\] is 0.5/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x, y: i64npy([10], [0, 1, 0, 1, 0, 1, 0, 1, 0, -1]) })), L), 'WM_ERR_DATASET_LABELS', /y\[9\] is -1/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x, y: i64npy([10], [0, 1, 0, 1, 0, 1, 0, 1, 0, 300]) })), L), 'WM_ERR_DATASET_LABELS', /at most 256 classes/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x, y: i64npy([9], labels(3, 3)) })), L), 'WM_ERR_DATASET_MALFORMED', /y has shape \[9\]; expected \[10\]/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x: f32npy([10, 2, 2], new Float32Array(40).fill(-0.4)), y: i64npy([10], labels(2, 5)) })), L), 'WM_ERR_DATASET_MALFORMED', /not normalised ones/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ x: u8npy([10, 2, 2, 4], new Uint8Array(160)), y: i64npy([10], labels(2, 5)) })), L), 'WM_ERR_DATASET_MALFORMED', /shape \[10, 2, 2, 4\]/);
  assertDatasetError(() => parseUploadedDataset(one('a.npz', npzOf({ images: x, y: i64npy([10], labels(2, 5)) })), L), 'WM_ERR_DATASET_MALFORMED', /needs arrays 'x' \(images\) and 'y' \(labels\); found 'images', 'y'/);
  // IDX: counts disagree, one file only, a gzip bomb
  assertDatasetError(() => parseUploadedDataset([{ name: 'i', bytes: idxOf([10, 2, 2], new Uint8Array(40)) }, { name: 'l', bytes: idxOf([9], new Uint8Array(9)) }], L), 'WM_ERR_DATASET_MALFORMED', /'l' has 9 labels for the 10 images of 'i'/);
  assertDatasetError(() => parseUploadedDataset([{ name: 'i', bytes: idxOf([10, 2, 2], new Uint8Array(40)) }], L), 'WM_ERR_DATASET_MALFORMED', /1 file\(s\) given/);
  const gzBomb = idxOf([1, 2048, 2048], new Uint8Array(2048 * 2048), true);
  assertDatasetError(() => parseUploadedDataset([{ name: 'i.gz', bytes: gzBomb }, { name: 'l', bytes: idxOf([1], new Uint8Array(1)) }], { ...L, maxDecodedBytes: 1 << 20 }), 'WM_ERR_DATASET_TOO_LARGE', /inflates past/);
  // not a dataset at all
  assertDatasetError(() => parseUploadedDataset(one('model.onnx', new Uint8Array([8, 1, 18, 4])), L), 'WM_ERR_DATASET_UNKNOWN_FORMAT', /Supported: one image-folder .zip/);
});

test('when a dataset is summarised, then the held-out split is stratified, seeded by content, disjoint from training, and training normalises with its own statistics', () => {
  const n = 200;
  const y = Uint8Array.from({ length: n }, (_, i) => (i < 150 ? 0 : 1)); // 150 / 50: unbalanced
  const set = { n, height: 4, width: 4, channels: 3 as const, x: noiseImage(4, 4 * n, 3, 1), y, classes: ['a', 'b'] };
  const { canonical, summary } = summarise(set, 0.2);
  assert.deepEqual(summary.classCounts, [150, 50]);
  assert.deepEqual([summary.split.train, summary.split.heldOut], [160, 40]); // 30 + 10: per class
  const again = summarise(set, 0.2).summary;
  assert.equal(again.split.digest, summary.split.digest, 'the same content splits the same way');
  const split = holdoutSplit(y, 2, 0.2, summary.split.seed);
  assert.equal(new Set([...split.train, ...split.heldOut]).size, n);
  assert.equal([...split.heldOut].filter((i) => y[i] === 1).length, 10);
  assert.deepEqual(decodeCanonical(canonical), { ...set, classes: ['a', 'b'] });
  const { train, heldOut } = trainingSplits(set, summary, 'ds_test');
  assert.deepEqual([train.n, heldOut.n, ...train.shape], [160, 40, 4, 4, 3]);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let q = 0;
    for (let i = c; i < train.x.length; i += 3) {
      s += train.x[i]!;
      q += train.x[i]! ** 2;
    }
    const count = train.x.length / 3;
    assert.ok(Math.abs(s / count) < 1e-4, `channel ${c} mean ${s / count}`);
    assert.ok(Math.abs(Math.sqrt(q / count) - 1) < 1e-3, `channel ${c} std`);
  }
  assert.equal(trainingSplits(set, summary, 'ds_test', { limit: 7 }).train.n, 7);
  assert.throws(() => trainingSplits(set, { ...summary, split: { ...summary.split, digest: '0'.repeat(64) } }, 'ds_x'), /no longer comes out as recorded/);
});
