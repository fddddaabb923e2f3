import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32 } from '../src/formats/float16.js';

test('when every half bit pattern is converted to float32 and back, then it is unchanged (NaNs stay NaN)', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const f = halfToFloat32(all);
  const back = float32ToHalf(f);
  for (let i = 0; i < 65536; i++) {
    if (Number.isNaN(f[i])) assert.ok(Number.isNaN(halfToFloat32(back.subarray(i, i + 1))[0]), `0x${i.toString(16)}`);
    else assert.equal(back[i], i, `0x${i.toString(16)}`);
  }
});

test('when known half patterns are converted, then they give the IEEE values', () => {
  const f = halfToFloat32(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x3555]));
  assert.deepEqual([...f], [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity, -0, 0.333251953125]);
});

test('when float32 values fall between halves, then they round to nearest even and overflow to Inf', () => {
  const h = float32ToHalf(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 2 ** -25, 2 ** -25 * 1.5, -1e-10]));
  assert.deepEqual([...h], [0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x8000]);
});

test('when bfloat16 patterns are converted, then they are the top half of the float32 bits', () => {
  assert.deepEqual([...bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001]))], [1, -3, Infinity, 2 ** -133]);
  assert.deepEqual([...float32ToBfloat16(new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8]))], [0x3f80, 0x3f80, 0x3f82]);
  assert.ok(Number.isNaN(bfloat16ToFloat32(float32ToBfloat16(new Float32Array([NaN])))[0]));
});
