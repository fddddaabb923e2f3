import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greedyAssignment, solveAssignment } from '../src/core/linearAssignment.js';
import { rngFrom } from './align-helpers.js';

function bruteForce(cost: Float64Array, rows: number, cols: number): number {
  let best = Infinity;
  const usedC = new Array<boolean>(cols).fill(false);
  const go = (r: number, acc: number, skipsLeft: number): void => {
    if (r === rows) {
      best = Math.min(best, acc);
      return;
    }
    if (skipsLeft > 0) go(r + 1, acc, skipsLeft - 1); // row left unmatched (only when rows > cols)
    for (let c = 0; c < cols; c++) {
      if (usedC[c]) continue;
      usedC[c] = true;
      go(r + 1, acc + cost[r * cols + c]!, skipsLeft);
      usedC[c] = false;
    }
  };
  go(0, 0, Math.max(0, rows - cols));
  return best;
}

function assertOneToOne(rowToCol: Int32Array, colToRow: Int32Array, rows: number, cols: number): void {
  const matched = [...rowToCol].filter((c) => c >= 0);
  assert.equal(matched.length, Math.min(rows, cols));
  assert.equal(new Set(matched).size, matched.length);
  rowToCol.forEach((c, r) => {
    if (c >= 0) assert.equal(colToRow[c], r);
  });
}

test('when random square and rectangular matrices are solved, then the cost equals the brute-force minimum', () => {
  const rng = rngFrom(7);
  for (const [rows, cols] of [[1, 1], [3, 3], [5, 5], [6, 6], [3, 6], [6, 3], [2, 5], [5, 2]] as const) {
    for (let rep = 0; rep < 5; rep++) {
      const cost = Float64Array.from({ length: rows * cols }, () => Math.round(rng() * 20) - 10);
      const a = solveAssignment(cost, rows, cols);
      assert.equal(a.method, 'exact');
      assertOneToOne(a.rowToCol, a.colToRow, rows, cols);
      assert.ok(Math.abs(a.cost - bruteForce(cost, rows, cols)) < 1e-9, `${rows}x${cols}: ${a.cost} vs ${bruteForce(cost, rows, cols)}`);
    }
  }
});

test('when a hidden permutation is the cheapest assignment at 500x500, then it is found exactly and fast', () => {
  const rng = rngFrom(11);
  const n = 500;
  const perm = Array.from({ length: n }, (_, i) => (i * 7919) % n); // 7919 is prime to 500: a permutation
  const cost = Float64Array.from({ length: n * n }, () => rng());
  for (let i = 0; i < n; i++) cost[i * n + perm[i]!] = -1;
  const t0 = performance.now();
  const a = solveAssignment(cost, n, n);
  const ms = performance.now() - t0;
  assert.equal(a.method, 'exact');
  for (let i = 0; i < n; i++) assert.equal(a.rowToCol[i], perm[i]);
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
});

test('when the matrix is beyond the exact budget, then the greedy fallback still gives a one-to-one matching', () => {
  const rng = rngFrom(3);
  const cost = Float64Array.from({ length: 40 * 60 }, () => rng());
  const a = solveAssignment(cost, 40, 60, { maxExactWork: 10 });
  assert.equal(a.method, 'greedy');
  assertOneToOne(a.rowToCol, a.colToRow, 40, 60);
  const g = greedyAssignment(cost, 40, 60);
  assert.equal(a.cost, g.cost);
  assert.ok(solveAssignment(cost, 40, 60).cost <= g.cost + 1e-12);
});

test('when a cost is not finite, then solving throws saying which entry', () => {
  assert.throws(() => solveAssignment([0, NaN, 1, 2], 2, 2), /entry 1 is NaN/);
});
