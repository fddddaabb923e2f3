import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors.js';
import { float32ToBfloat16, float32ToHalf } from '../src/formats/float16.js';
import { DEFAULT_READ_LIMITS } from '../src/formats/types.js';
import { assertCode } from './format-helpers.js';

/** A safetensors file from a header object and a data buffer, as the reference writer lays it out. */
function build(header: Record<string, unknown>, data: Uint8Array, pad = true): Uint8Array {
  let json = JSON.stringify(header);
  if (pad) while ((8 + json.length) % 8) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const bytesOf = (a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test('when a param set is written and read back, then names, shapes and values are equal and F32 data is a view', () => {
  const set = { tensors: [
    { name: 'conv1.weight', shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7) },
    { name: 'conv1.bias', shape: [2], data: new Float32Array([NaN, -Infinity]) },
  ] };
  const bytes = writeSafetensors(set, { format: 'pt' });
  const back = readSafetensors(bytes);
  assert.deepEqual(back.tensors, set.tensors);
  assert.equal(back.tensors[0]!.data.buffer, bytes.buffer, 'aligned F32 is read zero-copy');
});

test('when the data start is not 4-byte aligned, then F32 tensors are copied and still equal', () => {
  const v = new Float32Array([1.5, -2, 3.25]);
  const file = build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, bytesOf(v), false);
  const shifted = new Uint8Array(file.length + 1).subarray(1);
  shifted.set(file);
  assert.deepEqual(readSafetensors(shifted).tensors[0]!.data, v);
});

test('when tensors are F16, BF16 and F64, then they are converted to float32 values', () => {
  const v = new Float32Array([0.5, -1.25, 65504, 3]);
  const f16 = bytesOf(float32ToHalf(v));
  const bf16 = bytesOf(float32ToBfloat16(v));
  const f64 = bytesOf(Float64Array.from(v));
  const data = new Uint8Array(8 + 8 + 32);
  data.set(f16, 0); data.set(bf16, 8); data.set(f64, 16);
  const set = readSafetensors(build({
    a: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
    b: { dtype: 'BF16', shape: [2, 2], data_offsets: [8, 16] },
    c: { dtype: 'F64', shape: [4], data_offsets: [16, 48] },
    __metadata__: { format: 'pt' },
  }, data));
  assert.deepEqual([...set.tensors[0]!.data], [0.5, -1.25, 65504, 3]);
  assert.deepEqual([...set.tensors[1]!.data], [0.5, -1.25, 65536, 3]);
  assert.deepEqual(set.tensors[2]!.data, v);
});

test('when a tensor is I64 or U8 (e.g. num_batches_tracked), then it is read as its numeric values', () => {
  const data = new Uint8Array(10);
  new DataView(data.buffer).setBigInt64(0, 1234n, true);
  data[8] = 200; data[9] = 7;
  const set = readSafetensors(build({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] }, q: { dtype: 'U8', shape: [2], data_offsets: [8, 10] } }, data));
  assert.deepEqual([...set.tensors[0]!.data], [1234]);
  assert.deepEqual([...set.tensors[1]!.data], [200, 7]);
});

test('when a dtype is not supported, then the error names it and the supported dtypes', () => {
  assertCode(() => readSafetensors(build({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))),
    'WM_ERR_FORMAT_UNSUPPORTED_DTYPE', /'F8_E4M3'\. Supported dtypes are F64, F32, F16, BF16/);
});

test('when offsets run past the data, overlap or disagree with dtype × shape, then the file is refused', () => {
  const data = new Uint8Array(16);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data)), 'WM_ERR_FORMAT_TRUNCATED', /beyond the 16 data bytes/);
  assertCode(() => readSafetensors(build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data)), 'WM_ERR_FORMAT_MALFORMED', /overlap/);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data)), 'WM_ERR_FORMAT_MALFORMED', /needs 12/);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data)), 'WM_ERR_FORMAT_MALFORMED', /end before/);
});

test('when the header length runs beyond the file, then it is refused as truncated', () => {
  const file = writeSafetensors({ tensors: [{ name: 'w', shape: [2], data: new Float32Array(2) }] });
  new DataView(file.buffer).setBigUint64(0, 1n << 50n, true);
  assertCode(() => readSafetensors(file), 'WM_ERR_FORMAT_TRUNCATED', /header length/);
  assertCode(() => readSafetensors(file.subarray(0, 5)), 'WM_ERR_FORMAT_TRUNCATED');
});

test('when shapes have negative, fractional or too many dimensions, then they are refused', () => {
  const d = new Uint8Array(8);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [-2, -1], data_offsets: [0, 8] } }, d)), 'WM_ERR_FORMAT_MALFORMED', /non-negative integers/);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [0.5, 4], data_offsets: [0, 8] } }, d)), 'WM_ERR_FORMAT_MALFORMED');
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: Array(9).fill(1), data_offsets: [0, 4] } }, d)), 'WM_ERR_FORMAT_TOO_LARGE', /9 dimensions/);
  assertCode(() => readSafetensors(build({ w: { dtype: 'F32', shape: [2 ** 20, 2 ** 20], data_offsets: [0, 8] } }, d)), 'WM_ERR_FORMAT_TOO_LARGE', /elements/);
});

test('when the header is not JSON or not an object, then it is refused as malformed', () => {
  const bad = build({}, new Uint8Array(0));
  bad.set(new TextEncoder().encode('{"w":'), 8);
  assertCode(() => readSafetensors(bad), 'WM_ERR_FORMAT_MALFORMED', /not valid JSON/);
  assertCode(() => readSafetensors(build({ w: 'x' }, new Uint8Array(0))), 'WM_ERR_FORMAT_MALFORMED', /entry must be an object/);
});

test('when a file has more tensors than the limit, then it is refused', () => {
  const set = { tensors: Array.from({ length: 5 }, (_, i) => ({ name: `t${i}`, shape: [1], data: new Float32Array(1) })) };
  assertCode(() => readSafetensors(writeSafetensors(set), { ...DEFAULT_READ_LIMITS, maxTensors: 4 }), 'WM_ERR_FORMAT_TOO_LARGE', /more than 4 tensors/);
});

test('when a tensor is named __proto__, then it is written and read as an ordinary name', () => {
  const set = { tensors: [{ name: '__proto__', shape: [1], data: new Float32Array([2]) }] };
  assert.deepEqual(readSafetensors(writeSafetensors(set)).tensors, set.tensors);
});
