import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { gramEigen, singularValues, svd, symmetricEigen, truncateRank } from '../src/attacks/linalg.js';
import { createRng } from '../src/attacks/rng.js';

function randomMatrix(m: number, n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: m * n }, () => rng.normal());
}

/** A product of an m x r and an r x n random matrix: rank r exactly. */
function rankR(m: number, n: number, r: number, seed: number): Float64Array {
  const a = randomMatrix(m, r, seed);
  const b = randomMatrix(r, n, seed + 1);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let k = 0; k < r; k++) out[i * n + j] = out[i * n + j]! + a[i * r + k]! * b[k * n + j]!;
  return out;
}

function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return Math.sqrt(s);
}

/** max |XᵀX − I| for a rows x cols row-major X. */
function orthogonalityError(x: Float64Array, rows: number, cols: number): number {
  let worst = 0;
  for (let p = 0; p < cols; p++) {
    for (let q = 0; q < cols; q++) {
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += x[i * cols + p]! * x[i * cols + q]!;
      worst = Math.max(worst, Math.abs(dot - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

/**
 * Reference singular values by a different algorithm: one-sided (Hestenes) Jacobi rotations on the
 * columns until they are mutually orthogonal; the singular values are then the column norms.
 */
function jacobiSingularValues(a: Float64Array, m: number, n: number): number[] {
  // Work on the orientation with fewer columns.
  const [rows, cols] = n <= m ? [m, n] : [n, m];
  const c: number[][] = Array.from({ length: cols }, (_, j) => Array.from({ length: rows }, (_, i) => (n <= m ? a[i * n + j]! : a[j * n + i]!)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols; p++) {
      for (let q = p + 1; q < cols; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          alpha += c[p]![i]! ** 2;
          beta += c[q]![i]! ** 2;
          gamma += c[p]![i]! * c[q]![i]!;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < rows; i++) {
          const x = c[p]![i]!;
          const y = c[q]![i]!;
          c[p]![i] = cs * x - sn * y;
          c[q]![i] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) break;
  }
  return c.map((col) => Math.sqrt(col.reduce((s, x) => s + x * x, 0))).sort((x, y) => y - x);
}

function reconstruct(u: Float64Array, s: Float64Array, v: Float64Array, m: number, n: number): Float64Array {
  const r = s.length;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let k = 0; k < r; k++) out[i * n + j] = out[i * n + j]! + u[i * r + k]! * s[k]! * v[j * r + k]!;
  return out;
}

describe('linear algebra for the low-rank attack', () => {
  it('when a random symmetric matrix is decomposed, then A·v = λ·v, the vectors are orthonormal and the values descend and sum to the trace', () => {
    const n = 40;
    const b = randomMatrix(n, n, 3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j]! + b[j * n + i]!;
    const { values, vectors } = symmetricEigen(a, n);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i]!;
    assert.ok(Math.abs(values.reduce((x, y) => x + y, 0) - trace) < 1e-10, 'sum of eigenvalues = trace');
    for (let j = 1; j < n; j++) assert.ok(values[j - 1]! >= values[j]!, 'descending');
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[i * n + k]! * vectors[j * n + k]!;
        assert.ok(Math.abs(av - values[j]! * vectors[j * n + i]!) < 1e-10, `residual of vector ${j}`);
      }
    }
    // vectors holds one vector per row: orthonormal rows.
    const asColumns = new Float64Array(n * n);
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) asColumns[i * n + j] = vectors[j * n + i]!;
    assert.ok(orthogonalityError(asColumns, n, n) < 1e-12);
  });

  for (const [m, n] of [[50, 30], [30, 50], [1, 7], [7, 1], [12, 12]] as const) {
    it(`when a random ${m}x${n} matrix is decomposed, then U·S·Vᵀ reconstructs it, U and V are orthonormal and S matches one-sided Jacobi`, () => {
      const a = randomMatrix(m, n, m * 100 + n);
      const { u, s, v } = svd(a, m, n);
      const r = Math.min(m, n);
      assert.equal(s.length, r);
      const diff = reconstruct(u, s, v, m, n).map((x, i) => x - a[i]!);
      assert.ok(frob(diff) < 1e-12 * frob(a) * r, `reconstruction error ${frob(diff)}`);
      assert.ok(orthogonalityError(u, m, r) < 1e-10, 'U orthonormal');
      assert.ok(orthogonalityError(v, n, r) < 1e-10, 'V orthonormal');
      const ref = jacobiSingularValues(a, m, n);
      ref.forEach((x, i) => assert.ok(Math.abs(x - s[i]!) < 1e-10 * ref[0]!, `σ${i}: ${s[i]} vs reference ${x}`));
    });
  }

  it('when the matrix has rank 3, then three singular values are significant, U is completed to an orthonormal basis and the reconstruction holds', () => {
    const [m, n] = [20, 12];
    const a = rankR(m, n, 3, 9);
    const { u, s, v } = svd(a, m, n);
    assert.equal([...s].filter((x) => x > 1e-6 * s[0]!).length, 3);
    assert.ok(orthogonalityError(u, m, n) < 1e-10, 'U orthonormal');
    assert.ok(frob(reconstruct(u, s, v, m, n).map((x, i) => x - a[i]!)) < 1e-10 * frob(a));
    assert.deepEqual([...singularValues(a, m, n)].slice(0, 3).map((x) => x.toFixed(8)), [...s].slice(0, 3).map((x) => x.toFixed(8)));
  });

  for (const [m, n] of [[40, 25], [25, 40]] as const) {
    it(`when a ${m}x${n} matrix is truncated to rank k, then k singular values remain and the error is the rest of the spectrum (Eckart–Young)`, () => {
      const a = Float32Array.from(randomMatrix(m, n, 77 + m));
      const full = singularValues(a, m, n);
      for (const k of [1, 5, 24]) {
        const t = truncateRank(a, m, n, k);
        const st = singularValues(t, m, n);
        assert.equal([...st].filter((x) => x > 1e-4 * st[0]!).length, k, `rank of the rank-${k} truncation`);
        for (let i = 0; i < k; i++) assert.ok(Math.abs(st[i]! - full[i]!) < 1e-4 * full[0]!, `σ${i} kept`);
        const err = frob(t.map((x, i) => x - a[i]!));
        const tail = Math.sqrt([...full].slice(k).reduce((x, y) => x + y * y, 0));
        assert.ok(Math.abs(err - tail) < 1e-4 * tail, `error ${err} vs spectrum tail ${tail}`);
      }
      assert.deepEqual(truncateRank(a, m, n, Math.min(m, n)), a, 'full rank: an exact copy');
      assert.ok(truncateRank(a, m, n, 0).every((x) => x === 0), 'rank 0: zero');
    });
  }

  it('when given a non-finite value, a shape that does not fit or a bad rank, then it throws saying what was found', () => {
    assert.throws(() => svd([1, NaN, 3, 4], 2, 2), /element 1 is NaN; only finite matrices/);
    assert.throws(() => svd([1, 2, 3], 2, 2), /expected 2 x 2 = 4 elements, got 3/);
    assert.throws(() => truncateRank([1, 2, 3, 4], 2, 2, 1.5), /non-negative integer, got 1\.5/);
    assert.throws(() => truncateRank([1, 2, 3, 4], 2, 2, 1, gramEigen([1, 2, 3], 3, 1)), /1 x 1 Gram matrix, not of this 2 x 2/);
  });

  it("when LeNet5's fc1 (800 x 500) is decomposed, then it takes well under two seconds", (t) => {
    const a = Float32Array.from(randomMatrix(800, 500, 1), (x) => x * 0.05);
    const started = performance.now();
    const eig = gramEigen(a, 800, 500);
    const decomposed = performance.now() - started;
    truncateRank(a, 800, 500, 15, eig);
    const total = performance.now() - started;
    t.diagnostic(`fc1 800x500: Gram eigen-decomposition ${decomposed.toFixed(0)} ms, rank-15 truncation ${(total - decomposed).toFixed(0)} ms`);
    // Generous bound: the machines are shared; ~0.5 s is typical here.
    assert.ok(total < 5000, `${total.toFixed(0)} ms`);
  });
});
