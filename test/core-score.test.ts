import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreWatermark } from '../src/core/score.js';
import { logIncompleteBeta, logStudentTUpperTail } from '../src/core/stats.js';
import { gaussianSource } from '../src/core/locking.js';

test('when the t tail is computed, then it matches known values', () => {
  // Reference values from scipy.stats.t.sf(t, df).
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(2, 10)) - 0.0366940174) < 1e-9);
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(0, 5)) - 0.5) < 1e-12);
  assert.ok(Math.abs(Math.exp(logStudentTUpperTail(-1.5, 30)) - 0.9279670354) < 1e-9);
  assert.ok(Math.abs(Math.exp(logIncompleteBeta(0.3, 2, 3)) - 0.3483) < 1e-4);
});

test('when extraction equals the key, then r = 1 and the decision is a match with a tiny p', () => {
  const g = gaussianSource(1);
  const v = Array.from({ length: 1024 }, () => g());
  const s = scoreWatermark(v, v);
  assert.equal(s.r, 1);
  assert.equal(s.ber, 0);
  assert.equal(s.decision, 'match');
  assert.ok(s.log10p < -300 && Number.isFinite(s.log10p));
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
