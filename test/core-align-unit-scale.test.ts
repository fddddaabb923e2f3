import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rescaleUnits } from '../src/core/align/unitScale.js';

/** A [rows, units] tensor with distinct values. */
function tensor(rows: number, units: number, seed: number): { shape: number[]; data: Float32Array } {
  return { shape: [rows, units], data: Float32Array.from({ length: rows * units }, (_, i) => Math.sin(i * 1.7 + seed)) };
}

test('when the suspect equals the reference, then nothing is rescaled', () => {
  const r = tensor(20, 4, 1);
  assert.equal(rescaleUnits({ shape: r.shape, data: new Float32Array(r.data) }, r, new Uint8Array(80)), undefined);
});

test('when each unit is scaled (a folded batch norm), then dividing by the fitted scales gives the reference back, keyed positions included', () => {
  const ref = tensor(30, 3, 2);
  const scales = [0.5, 2.5, -1.5];
  const mask = new Uint8Array(90);
  const suspect = new Float32Array(ref.data);
  // The keyed positions hold other values than the reference (the mark), scaled like the rest.
  for (const i of [4, 31, 62]) {
    mask[i] = 1;
    suspect[i] = 7;
  }
  for (let i = 0; i < 90; i++) suspect[i] = suspect[i]! * scales[i % 3]!;
  const r = rescaleUnits({ shape: ref.shape, data: suspect }, ref, mask)!;
  assert.equal(r.units, 3);
  assert.deepEqual([r.min, r.max].map((v) => Number(v.toFixed(6))), [-1.5, 2.5]);
  for (let i = 0; i < 90; i++) assert.ok(Math.abs(r.data[i]! - (mask[i] ? 7 : ref.data[i]!)) < 1e-5, `position ${i}`);
});

test('when a unit does not resemble the reference\'s, then its scale is not guessed', () => {
  const ref = tensor(40, 2, 3);
  const suspect = new Float32Array(ref.data);
  for (let r = 0; r < 40; r++) {
    suspect[r * 2] = 3 * ref.data[r * 2]!;
    suspect[r * 2 + 1] = Math.cos(r * 12.9);
  }
  const out = rescaleUnits({ shape: ref.shape, data: suspect }, ref, new Uint8Array(80))!;
  assert.equal(out.units, 1);
  for (let r = 0; r < 40; r++) assert.equal(out.data[r * 2 + 1], suspect[r * 2 + 1]);
});
