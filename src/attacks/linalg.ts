/**
 * Small dense linear algebra in Float64 for the low-rank attack, pure (no tfjs, no dependency):
 * the symmetric eigen-decomposition (Householder tridiagonalisation + implicit QL, the EISPACK
 * tred2/tql2 pair as in JAMA, public domain), a thin SVD built on it, and rank-k truncation.
 *
 * Why the Gram route and not a one-sided Jacobi SVD: the only large matrix an attack meets is LeNet5's
 * fc1 (800 x 500). Jacobi on its columns costs ~10 sweeps of n²/2 rotations over length-800 columns
 * (~6 GFLOP, seconds in JS); the eigen-decomposition of the 500 x 500 Gram matrix is ~1 GFLOP. The Gram
 * matrix squares the condition number, so a small singular value σ carries an absolute error of about
 * ε·σ₁²/σ — immaterial for truncating float32 weights. Truncation never divides by σ: it projects onto
 * the top-k eigenvectors of the Gram matrix (A·V_k·V_kᵀ), which is exact at full rank up to the
 * eigenvectors' orthogonality (~1e-15), whatever the small singular values are.
 *
 * Matrices are flat, row-major: element (i, j) of an m x n matrix is at i·n + j.
 */

export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  readonly values: Float64Array;
  /** Eigenvector j (for values[j]) is contiguous: component i at vectors[j·n + i]; orthonormal. */
  readonly vectors: Float64Array;
}

export interface Svd {
  /** Singular values, descending, length r = min(m, n). */
  readonly s: Float64Array;
  /** m x r, row-major, orthonormal columns. */
  readonly u: Float64Array;
  /** n x r, row-major, orthonormal columns. */
  readonly v: Float64Array;
  readonly m: number;
  readonly n: number;
}

const EPS = 2 ** -52;
/** QL iterations allowed per eigenvalue; 2–3 are typical, 30 is EISPACK's bound. */
const MAX_QL_ITERATIONS = 60;

function checkDims(len: number, m: number, n: number, what: string): void {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 1 || n < 1) throw new Error(`${what}: dimensions must be positive integers, got ${m} x ${n}`);
  if (len !== m * n) throw new Error(`${what}: expected ${m} x ${n} = ${m * n} elements, got ${len}`);
}

function checkFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new Error(`${what}: element ${i} is ${a[i]}; only finite matrices are accepted`);
  }
}

/**
 * Eigenvalues and orthonormal eigenvectors of a symmetric n x n matrix (only the lower triangle is read).
 * The input is not modified.
 * @throws Error when the matrix is not n x n, holds a non-finite value, or QL does not converge.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  checkDims(a.length, n, n, 'symmetricEigen');
  checkFinite(a, 'symmetricEigen');
  // Working matrix V (row-major), initialised with the lower triangle mirrored.
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = a[i * n + j]!;
      V[i * n + j] = x;
      V[j * n + i] = x;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(V, d, e, n);
  // V now holds the transform's columns as rows: tql2 rotates pairs of them, contiguous.
  const W = V;
  tql2(W, d, e, n);
  // Sort descending (tql2 leaves them unsorted).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    vectors.set(W.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}

/**
 * Householder reduction to tridiagonal form (d: diagonal, e: sub-diagonal), accumulating the transform.
 * T is the working matrix stored column-major (element (r, c) at c·n + r), so the inner loops, which
 * walk down columns, are contiguous; on return row j of T is the j-th column of the transform, the
 * layout tql2 wants. (The input is symmetric, so its row-major copy is also its column-major one.)
 */
function tred2(T: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = T[j * n + n - 1]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = T[j * n + i - 1]!;
        T[j * n + i] = 0;
        T[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        T[i * n + j] = f;
        const col = j * n;
        g = e[j]! + T[col + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const vkj = T[col + k]!;
          g += vkj * d[k]!;
          e[k] = e[k]! + vkj * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        const col = j * n;
        for (let k = j; k <= i - 1; k++) T[col + k] = T[col + k]! - (f * e[k]! + g * d[k]!);
        d[j] = T[col + i - 1]!;
        T[col + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    T[i * n + n - 1] = T[i * n + i]!;
    T[i * n + i] = 1;
    const h = d[i + 1]!;
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = T[next + k]! / h;
      for (let j = 0; j <= i; j++) {
        const col = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += T[next + k]! * T[col + k]!;
        for (let k = 0; k <= i; k++) T[col + k] = T[col + k]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) T[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = T[j * n + n - 1]!;
    T[j * n + n - 1] = 0;
  }
  T[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e); W holds the eigenvectors transposed (row j = vector j) and
 * receives the rotations. Leaves the eigenvalues in d, unsorted.
 */
function tql2(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= EPS * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > MAX_QL_ITERATIONS) throw new Error(`symmetricEigen: QL did not converge for eigenvalue ${l} of ${n} after ${MAX_QL_ITERATIONS} iterations`);
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          // Rotate eigenvector rows i and i + 1 (contiguous in W).
          const a = i * n;
          const b = a + n;
          for (let k = 0; k < n; k++) {
            const wb = W[b + k]!;
            const wa = W[a + k]!;
            W[b + k] = s * wa + c * wb;
            W[a + k] = c * wa - s * wb;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > EPS * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}

/**
 * Gram matrix of the smaller side of an m x n matrix: AᵀA (n x n) when n ≤ m, else AAᵀ (m x m).
 * Accumulated in Float64 over the lower triangle, then mirrored.
 */
function gram(a: ArrayLike<number>, m: number, n: number): { g: Float64Array; size: number; side: 'right' | 'left' } {
  if (n <= m) {
    const g = new Float64Array(n * n);
    const row = new Float64Array(n);
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < n; j++) row[j] = a[r * n + j]!;
      for (let i = 0; i < n; i++) {
        const x = row[i]!;
        if (x === 0) continue;
        const gi = i * n;
        for (let j = 0; j <= i; j++) g[gi + j] = g[gi + j]! + x * row[j]!;
      }
    }
    mirrorLower(g, n);
    return { g, size: n, side: 'right' };
  }
  const g = new Float64Array(m * m);
  const rows = Float64Array.from(a as ArrayLike<number>);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += rows[i * n + k]! * rows[j * n + k]!;
      g[i * m + j] = s;
    }
  }
  mirrorLower(g, m);
  return { g, size: m, side: 'left' };
}

function mirrorLower(g: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j]!;
}

/**
 * The eigen-decomposition of the smaller Gram matrix of an m x n matrix: `side` 'right' means the
 * eigenvectors are the right singular vectors (AᵀA), 'left' the left ones (AAᵀ). Eigenvalues are σ².
 * This is the expensive part of a truncation; `truncateRank` accepts it back so that one decomposition
 * serves a whole sweep of ranks.
 * @throws Error on bad dimensions or non-finite input.
 */
export function gramEigen(a: ArrayLike<number>, m: number, n: number): SymmetricEigen & { readonly side: 'right' | 'left'; readonly size: number } {
  checkDims(a.length, m, n, 'gramEigen');
  checkFinite(a, 'gramEigen');
  const { g, size, side } = gram(a, m, n);
  return { ...symmetricEigen(g, size), side, size };
}

/** Singular values of an m x n matrix, descending (σ = √max(λ, 0) of the smaller Gram matrix). */
export function singularValues(a: ArrayLike<number>, m: number, n: number): Float64Array {
  return gramEigen(a, m, n).values.map((l) => Math.sqrt(Math.max(l, 0)));
}

/**
 * Thin SVD A = U·diag(s)·Vᵀ of an m x n matrix, r = min(m, n). The singular vectors of the smaller
 * side are the Gram eigenvectors v; σ = |A·v| and the other side's vectors are A·v/σ, re-orthogonalised
 * (two passes of Gram–Schmidt against the earlier ones: a Gram eigenvector of a small σ is off by about
 * ε·σ₁²/σ², which A·v/σ would carry into U); where A·v is mostly noise, an orthonormal basis is completed
 * instead. Costs about twice `truncateRank`; the attack itself does not need it.
 * @throws Error on bad dimensions or non-finite input.
 */
export function svd(a: ArrayLike<number>, m: number, n: number): Svd {
  const eig = gramEigen(a, m, n);
  const r = Math.min(m, n);
  // "small": the Gram side (its vectors are the eigenvectors); "big": the other side.
  const big = eig.side === 'right' ? m : n;
  const small = eig.size;
  // σ_j = |A·v_j| rather than √λ_j: computed from A itself, accurate to ε·σ₁ instead of √ε·σ₁.
  const images = Array.from({ length: r }, (_, j) => {
    const col = new Float64Array(big);
    const vec = eig.vectors.subarray(j * small, j * small + small);
    if (eig.side === 'right') {
      for (let i = 0; i < m; i++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += a[i * n + k]! * vec[k]!;
        col[i] = acc;
      }
    } else {
      for (let i = 0; i < m; i++) {
        const ui = vec[i]!;
        for (let k = 0; k < n; k++) col[k] = col[k]! + a[i * n + k]! * ui;
      }
    }
    let norm = 0;
    for (let i = 0; i < big; i++) norm += col[i]! * col[i]!;
    return { j, col, sigma: Math.sqrt(norm) };
  }).sort((x, y) => y.sigma - x.sigma);
  const s = Float64Array.from(images, (x) => x.sigma);
  const smallVecs = new Float64Array(small * r);
  const bigVecs = new Float64Array(big * r);
  images.forEach(({ j: src, col, sigma }, j) => {
    for (let i = 0; i < small; i++) smallVecs[i * r + j] = eig.vectors[src * small + i]!;
    const norm = sigma > 0 ? orthogonalise(col, bigVecs, big, r, j) : 0;
    // Half its length lost to earlier columns: A·v was noise at this σ; complete the basis instead.
    if (norm > 0.5 * sigma && norm > 0) for (let i = 0; i < big; i++) bigVecs[i * r + j] = col[i]! / norm;
    else completeBasis(bigVecs, big, r, j, col);
  });
  return eig.side === 'right' ? { s, u: bigVecs, v: smallVecs, m, n } : { s, u: smallVecs, v: bigVecs, m, n };
}

/** Removes from `col` its components along columns 0..j-1 of the big x r basis (two passes); returns its norm. */
function orthogonalise(col: Float64Array, basis: Float64Array, big: number, r: number, j: number): number {
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 0; c < j; c++) {
      let dot = 0;
      for (let i = 0; i < big; i++) dot += basis[i * r + c]! * col[i]!;
      if (dot !== 0) for (let i = 0; i < big; i++) col[i] = col[i]! - dot * basis[i * r + c]!;
    }
  }
  let norm = 0;
  for (let i = 0; i < big; i++) norm += col[i]! * col[i]!;
  return Math.sqrt(norm);
}

/** Sets column j of the big x r basis to a unit vector orthogonal to columns 0..j-1 (a unit vector e_i, orthogonalised). */
function completeBasis(basis: Float64Array, big: number, r: number, j: number, col: Float64Array): void {
  for (let e = 0; e < big; e++) {
    col.fill(0);
    col[e] = 1;
    const norm = orthogonalise(col, basis, big, r, j);
    // Some e_i keeps at least 1/√big of its length; 0.5/√big accepts it without a near-cancellation.
    if (norm > 0.5 / Math.sqrt(big)) {
      for (let i = 0; i < big; i++) basis[i * r + j] = col[i]! / norm;
      return;
    }
  }
  throw new Error(`svd: could not complete an orthonormal basis at column ${j} of ${r}`);
}

/**
 * The best rank-k approximation (Eckart–Young, Frobenius and spectral norm) of an m x n matrix, as
 * float32: A·V_k·V_kᵀ when n ≤ m, else U_k·U_kᵀ·A. k ≥ min(m, n) returns an exact copy. `eig` may be
 * passed from an earlier `gramEigen` of the same matrix to skip the decomposition.
 * @throws Error when k is not a non-negative integer, on bad dimensions or non-finite input.
 */
export function truncateRank(a: ArrayLike<number>, m: number, n: number, k: number, eig?: ReturnType<typeof gramEigen>): Float32Array {
  checkDims(a.length, m, n, 'truncateRank');
  if (!Number.isInteger(k) || k < 0) throw new Error(`truncateRank: the rank kept must be a non-negative integer, got ${k}`);
  if (k >= Math.min(m, n)) return Float32Array.from(a as ArrayLike<number>);
  const e = eig ?? gramEigen(a, m, n);
  if (e.size !== Math.min(m, n)) throw new Error(`truncateRank: the decomposition given is of a ${e.size} x ${e.size} Gram matrix, not of this ${m} x ${n} matrix`);
  const out = new Float32Array(m * n);
  if (k === 0) return out;
  const vecs = e.vectors;
  if (e.side === 'right') {
    // out = (A·V_k)·V_kᵀ, row by row: p = row·V_k (k numbers), then out_row = Σ_j p_j·v_j.
    const p = new Float64Array(k);
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      const row = i * n;
      for (let j = 0; j < k; j++) {
        const v = j * n;
        let s = 0;
        for (let c = 0; c < n; c++) s += a[row + c]! * vecs[v + c]!;
        p[j] = s;
      }
      acc.fill(0);
      for (let j = 0; j < k; j++) {
        const pj = p[j]!;
        const v = j * n;
        for (let c = 0; c < n; c++) acc[c] = acc[c]! + pj * vecs[v + c]!;
      }
      for (let c = 0; c < n; c++) out[row + c] = acc[c]!;
    }
    return out;
  }
  // out = U_k·(U_kᵀ·A): q_j = u_jᵀ·A (length n), then out = Σ_j u_j·q_jᵀ.
  const q = new Float64Array(k * n);
  for (let j = 0; j < k; j++) {
    const u = j * m;
    for (let i = 0; i < m; i++) {
      const ui = vecs[u + i]!;
      if (ui === 0) continue;
      for (let c = 0; c < n; c++) q[j * n + c] = q[j * n + c]! + ui * a[i * n + c]!;
    }
  }
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    for (let j = 0; j < k; j++) {
      const ui = vecs[j * m + i]!;
      for (let c = 0; c < n; c++) acc[c] = acc[c]! + ui * q[j * n + c]!;
    }
    for (let c = 0; c < n; c++) out[i * n + c] = acc[c]!;
  }
  return out;
}
