import { test } from 'node:test';
import assert from 'node:assert/strict';
import { P_FLOOR, scoreWatermark } from '../src/core/score.js';
import { logIncompleteBeta, logStudentTUpperTail } from '../src/core/stats.js';
import { gaussianSource } from '../src/core/locking.js';

test('when the t tail is computed, then it matches known values', () => {
  // Reference values from scipy.stats.t.sf(t, df).
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(2, 10)) - 0.0366940174) < 1e-9);
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(0, 5)) - 0.5) < 1e-12);
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(-1.5, 30)) - 0.9279670354) < 1e-9);
  assert.ok(Math.abs(Math.exp(logIncompleteBeta(0.3, 2, 3)) - 0.3483) < 1e-4);
});

test('when extraction equals the key, then r = 1, a match, and the p-value is the stated floor (not a figure made of float rounding)', () => {
  const g = gaussianSource(1);
  const v = Array.from({ length: 1024 }, () => g());
  const s = scoreWatermark(v, v);
  assert.equal(s.r, 1);
  assert.equal(s.ber, 0);
  assert.equal(s.decision, 'match');
  assert.equal(s.atFloor, true);
  assert.equal(s.pValue, P_FLOOR);
  assert.equal(s.log10p, -38);
  // r = 0.999 is far past the floor too: the report says "p < 1e-38", not 1e-1462
  const near = scoreWatermark(v.map((x, i) => x + 0.045 * Math.sin(i)), v);
  assert.ok(near.r > 0.998 && near.r < 1);
  assert.equal(near.atFloor, true);
});

test('when values are unrelated, then p-values are uniform (calibrated) and false matches stay at the rate asked', () => {
  const g = gaussianSource(42);
  const trials = 4000;
  const n = 200;
  const ps: number[] = [];
  for (let k = 0; k < trials; k++) {
    const a = Array.from({ length: n }, () => g());
    const b = Array.from({ length: n }, () => g());
    ps.push(scoreWatermark(a, b, { fpr: 0.05 }).pValue);
  }
  for (const q of [0.01, 0.05, 0.1, 0.5, 0.9]) {
    const frac = ps.filter((p) => p < q).length / trials;
    const sd = Math.sqrt((q * (1 - q)) / trials);
    assert.ok(Math.abs(frac - q) < 4 * sd + 1e-9, `P(p < ${q}) = ${frac}`);
  }
});

test('when the same r is tested against more alignments, then the Bonferroni-corrected p grows in proportion', () => {
  const g = gaussianSource(3);
  const a = Array.from({ length: 100 }, () => g());
  const b = a.map((x) => x + 3 * g());
  const one = scoreWatermark(a, b);
  const ten = scoreWatermark(a, b, { comparisons: 10 });
  assert.ok(Math.abs(ten.log10p - Math.min(0, one.log10p + 1)) < 1e-9);
});

test('when the extracted values contain NaN, then the score is r = 0 (no match), not a crash', () => {
  const s = scoreWatermark([1, Number.NaN, 3, 4], [1, 2, 3, 4]);
  assert.equal(s.r, 0);
  assert.equal(s.decision, 'no match');
});

test('when every extracted value is NaN or infinite (a diverged model), then the score is no match with p = 1, not an error', () => {
  const s = scoreWatermark([Number.NaN, Number.NaN, Number.POSITIVE_INFINITY, Number.NaN], [1, 2, 3, 4], { groups: [0, 0, 1, 1] });
  assert.equal(s.r, 0);
  assert.equal(s.n, 0);
  assert.equal(s.pValue, 1);
  assert.equal(s.decision, 'no match');
  // Too few finite positions is still an error: that is a key too small to test, not a diverged model.
  assert.throws(() => scoreWatermark([1, 2], [1, 2]), /A score needs more positions/);
});

test('when key and suspect share a per-tensor scale pattern, then only the within-tensor score stays calibrated', () => {
  const g = gaussianSource(9);
  // Like LeNet5: a few positions in a large-scale tensor, most in a small-scale one.
  const groups = [...Array(40).fill(0), ...Array(900).fill(1), ...Array(60).fill(2)];
  const scale = [0.5, 0.03, 0.1];
  const trials = 3000;
  let pooledFalse = 0;
  let groupedFalse = 0;
  for (let k = 0; k < trials; k++) {
    const key = groups.map((t) => scale[t]! * g());
    const suspect = groups.map((t) => scale[t]! * g());
    if (scoreWatermark(suspect, key).pValue < 0.01) pooledFalse++;
    if (scoreWatermark(suspect, key, { groups }).pValue < 0.01) groupedFalse++;
  }
  const sd = Math.sqrt((0.01 * 0.99) / trials);
  assert.ok(pooledFalse / trials > 0.01 + 4 * sd, `pooled false-positive rate ${pooledFalse / trials} should show the miscalibration`);
  assert.ok(Math.abs(groupedFalse / trials - 0.01) < 4 * sd, `grouped false-positive rate ${groupedFalse / trials}`);
});

test('when one tensor is rescaled, then the within-tensor score is unchanged', () => {
  const g = gaussianSource(10);
  const groups = [...Array(100).fill(0), ...Array(100).fill(1)];
  const key = groups.map(() => g());
  const ext = key.map((v) => v + 0.5 * g());
  const scaled = ext.map((v, i) => (groups[i] === 1 ? v * 7 : v));
  const a = scoreWatermark(ext, key, { groups });
  const b = scoreWatermark(scaled, key, { groups });
  assert.ok(Math.abs(a.r - b.r) < 1e-12);
});
