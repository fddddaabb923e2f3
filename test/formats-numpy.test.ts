import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { readNpy, writeNpy } from '../src/formats/npy.js';
import { readNpz, writeNpz } from '../src/formats/npz.js';
import { writeZipStored } from '../src/formats/zip.js';
import { DEFAULT_READ_LIMITS } from '../src/formats/types.js';
import { assertCode } from './format-helpers.js';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/formats/${name}`, import.meta.url)));
// The array make_numpy_fixtures.py writes: (arange(24).reshape(2,3,4) - 11.5) / 8, in C order.
const expectedA = Float32Array.from({ length: 24 }, (_, i) => (i - 11.5) / 8);

for (const [file, what] of [
  ['c_f4.npy', "'<f4' C order"], ['fortran_f4.npy', 'Fortran order'], ['be_f4.npy', "big-endian '>f4'"],
  ['le_f2.npy', "half '<f2'"], ['le_f8.npy', "double '<f8'"], ['v2_f4.npy', 'version 2.0 header'],
] as const) {
  test(`when NumPy wrote a ${what} .npy, then it reads as the same values in C order`, () => {
    const t = readNpy(fixture(file), 'a');
    assert.deepEqual(t.shape, [2, 3, 4]);
    assert.deepEqual(t.data, expectedA);
  });
}

test('when a .npy holds NaN and Inf, then they are read as they are', () => {
  const t = readNpy(fixture('nan_inf.npy'), 'b');
  assert.deepEqual([...t.data], [1.5, -2.25, NaN, Infinity]);
});

test('when a .npy holds a 0-d scalar, then it reads as shape [] with one value', () => {
  const t = readNpy(fixture('scalar.npy'), 's');
  assert.deepEqual(t.shape, []);
  assert.deepEqual([...t.data], [3.25]);
});

test('when a .npy holds an object array, then it is refused as an unsupported dtype naming what is supported', () => {
  assertCode(() => readNpy(fixture('object.npy'), 'o'), 'WM_ERR_FORMAT_UNSUPPORTED_DTYPE', /'\|O'.*Supported dtypes are/);
});

test('when np.savez wrote an .npz (zip64 local headers), then every entry reads, named without .npy', () => {
  const set = readNpz(fixture('stored.npz'));
  assert.deepEqual(set.tensors.map((t) => t.name), ['conv1.weight', 'conv1.bias', 'fc/kernel']);
  assert.deepEqual(set.tensors[0]!.data, expectedA);
  assert.deepEqual(set.tensors[2]!.shape, [6, 4]);
});

test('when np.savez_compressed wrote an .npz (deflate), then it reads the same values', () => {
  const set = readNpz(fixture('deflated.npz'));
  assert.deepEqual(set.tensors[0]!.data, expectedA);
  assert.equal(set.tensors[1]!.data[3], Infinity);
});

test('when our .npz writer writes a set, then it reads back equal and float data are zero-copy views', () => {
  const set = { tensors: [{ name: 'w', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, { name: 'b', shape: [2], data: new Float32Array([7, 8]) }] };
  const bytes = writeNpz(set);
  const back = readNpz(bytes);
  assert.deepEqual(back.tensors, set.tensors);
  assert.equal(back.tensors[0]!.data.buffer, bytes.buffer);
  assert.deepEqual(readNpy(writeNpy(set.tensors[0]!), 'w'), set.tensors[0]);
});

test('when a zip entry declares more uncompressed bytes than allowed, then it is refused before inflating', () => {
  const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024)); // 64 MiB of zeros → ~64 KiB
  const zip = rewriteAsDeflated(writeZipStored([{ name: 'z.npy', data: new Uint8Array(10) }]), bomb, 64 * 1024 * 1024);
  assertCode(() => readNpz(zip, { ...DEFAULT_READ_LIMITS, maxInflatedBytes: 1024 * 1024 }), 'WM_ERR_FORMAT_TOO_LARGE', /uncompressed bytes/);
});

test('when a zip entry lies about its size (a bomb declaring 10 bytes), then inflating stops at the cap', () => {
  const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024));
  const zip = rewriteAsDeflated(writeZipStored([{ name: 'z.npy', data: new Uint8Array(10) }]), bomb, 10);
  const before = process.memoryUsage().arrayBuffers;
  assertCode(() => readNpz(zip), 'WM_ERR_FORMAT_TOO_LARGE', /inflates past its declared 10 bytes/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
});

test('when an .npz has more entries than the limit, then it is refused', () => {
  const zip = writeZipStored(Array.from({ length: 5 }, (_, i) => ({ name: `t${i}.npy`, data: writeNpy({ name: '', shape: [1], data: new Float32Array(1) }) })));
  assertCode(() => readNpz(zip, { ...DEFAULT_READ_LIMITS, maxZipEntries: 4 }), 'WM_ERR_FORMAT_TOO_LARGE', /5 entries/);
});

test('when an .npy shape has a negative, fractional or huge dimension, then it is refused', () => {
  const good = writeNpy({ name: 'x', shape: [2, 2], data: new Float32Array(4) });
  const withShape = (shape: string) => {
    const text = new TextDecoder('latin1').decode(good.subarray(10, 10 + new DataView(good.buffer).getUint16(8, true)));
    const edited = text.replace('(2, 2)', shape).padEnd(text.length, ' ').slice(0, text.length);
    const out = good.slice();
    for (let i = 0; i < edited.length; i++) out[10 + i] = edited.charCodeAt(i);
    return out;
  };
  assertCode(() => readNpy(withShape('(-2, 2)'), 'x'), 'WM_ERR_FORMAT_MALFORMED', /non-negative integers/);
  assertCode(() => readNpy(withShape('(2.5, 2)'), 'x'), 'WM_ERR_FORMAT_MALFORMED');
  assertCode(() => readNpy(withShape('(99999999, 99999999)'), 'x'), 'WM_ERR_FORMAT_TOO_LARGE', /elements/);
  assertCode(() => readNpy(withShape('(3, 2)'), 'x'), 'WM_ERR_FORMAT_TRUNCATED', /needs 24 data bytes/);
});

test('when a deflated .npz entry does not match its CRC-32, then it is refused; a stored one is read as it is', () => {
  const deflated = fixture('deflated.npz');
  const cen = findCentral(deflated);
  deflated[cen + 16] = deflated[cen + 16]! ^ 0xff;
  assertCode(() => readNpz(deflated), 'WM_ERR_FORMAT_MALFORMED', /CRC-32/);
  const stored = writeNpz({ tensors: [{ name: 'w', shape: [4], data: new Float32Array([1, 2, 3, 4]) }] });
  const at = findCentral(stored) + 16;
  stored[at] = stored[at]! ^ 0xff;
  assert.deepEqual([...readNpz(stored).tensors[0]!.data], [1, 2, 3, 4]);
});

function findCentral(zip: Uint8Array): number {
  for (let i = 0; i + 4 <= zip.length; i++) if (zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 1 && zip[i + 3] === 2) return i;
  throw new Error('no central directory');
}

/** Replaces the single stored entry of `zip` by `deflated` data declaring `declared` uncompressed bytes. */
function rewriteAsDeflated(zip: Uint8Array, deflated: Uint8Array, declared: number): Uint8Array {
  const name = new TextEncoder().encode('z.npy');
  const loc = new Uint8Array(30 + name.length);
  const lv = new DataView(loc.buffer);
  lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, 8, true);
  lv.setUint32(18, deflated.length, true); lv.setUint32(22, declared, true); lv.setUint16(26, name.length, true);
  loc.set(name, 30);
  const cen = new Uint8Array(46 + name.length);
  const cv = new DataView(cen.buffer);
  cv.setUint32(0, 0x02014b50, true); cv.setUint16(10, 8, true);
  cv.setUint32(20, deflated.length, true); cv.setUint32(24, declared, true); cv.setUint16(28, name.length, true);
  cen.set(name, 46);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, 1, true); ev.setUint16(10, 1, true);
  ev.setUint32(12, cen.length, true); ev.setUint32(16, loc.length + deflated.length, true);
  void zip;
  const out = new Uint8Array(loc.length + deflated.length + cen.length + 22);
  out.set(loc, 0); out.set(deflated, loc.length); out.set(cen, loc.length + deflated.length); out.set(eocd, loc.length + deflated.length + cen.length);
  return out;
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

test('when NumPy loads the .npz our writer made, then it sees the same names, shapes and values', { skip: !hasNumpy && 'python3 with numpy is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-npz-'));
  try {
    const path = join(dir, 'm.npz');
    writeFileSync(path, writeNpz({ tensors: [{ name: 'conv1/kernel', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }, { name: 'b', shape: [1], data: new Float32Array([NaN]) }] }));
    const py = spawnSync('python3', ['-c', 'import sys, json, numpy as np; d = np.load(sys.argv[1]); print(json.dumps({k: [list(d[k].shape), str(d[k].dtype), [str(v) for v in d[k].ravel()]] for k in d.keys()}))', path], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    assert.deepEqual(JSON.parse(py.stdout), { 'conv1/kernel': [[2, 3], 'float32', ['1.0', '2.0', '3.0', '4.0', '5.0', '-6.5']], b: [[1], 'float32', ['nan']] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
