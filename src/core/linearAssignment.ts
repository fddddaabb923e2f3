/**
 * Linear assignment (minimum-cost bipartite matching) on a dense cost matrix. Exact by the Hungarian
 * method with potentials (Kuhn-Munkres, the O(n²m) shortest-augmenting-path form of Jonker-Volgenant),
 * with a greedy fallback when the matrix is too large for the exact solver's time budget.
 *
 * Rectangular matrices are fine: every row of the smaller side is matched, the surplus of the larger
 * side stays unmatched (-1).
 */
export interface Assignment {
  /** rowToCol[r] = the column matched to row r, or -1. */
  readonly rowToCol: Int32Array;
  /** colToRow[c] = the row matched to column c, or -1. */
  readonly colToRow: Int32Array;
  /** Sum of the costs of the matched pairs. */
  readonly cost: number;
  readonly method: 'exact' | 'greedy';
}

export interface AssignmentOptions {
  /**
   * Largest min(rows, cols)² · max(rows, cols) solved exactly (about 1.25e8 is 500x500, well under a
   * second in V8); beyond it the greedy fallback is used.
   */
  readonly maxExactWork?: number;
}

export const DEFAULT_MAX_EXACT_WORK = 1.5e8;

/**
 * Matches rows to columns minimising the total cost. `cost` is row-major, rows x cols, finite values.
 * @throws Error when the matrix size does not agree with rows x cols or holds a non-finite cost.
 */
export function solveAssignment(cost: ArrayLike<number>, rows: number, cols: number, opts: AssignmentOptions = {}): Assignment {
  if (cost.length !== rows * cols) throw new Error(`Cost matrix has ${cost.length} entries, expected ${rows} x ${cols} = ${rows * cols}`);
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i]!)) throw new Error(`Cost matrix entry ${i} is ${cost[i]}; costs must be finite`);
  }
  const small = Math.min(rows, cols);
  const large = Math.max(rows, cols);
  if (small === 0) return { rowToCol: new Int32Array(rows).fill(-1), colToRow: new Int32Array(cols).fill(-1), cost: 0, method: 'exact' };
  const maxWork = opts.maxExactWork ?? DEFAULT_MAX_EXACT_WORK;
  if (small * small * large > maxWork) return greedyAssignment(cost, rows, cols);
  if (rows <= cols) return hungarian(cost, rows, cols);
  // Solve the transpose so the row side is the smaller one, then swap back.
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = cost[r * cols + c]!;
  const s = hungarian(t, cols, rows);
  return { rowToCol: s.colToRow, colToRow: s.rowToCol, cost: s.cost, method: 'exact' };
}

/** Hungarian method with potentials for n <= m (e-maxx formulation, 1-based internally). */
function hungarian(a: ArrayLike<number>, n: number, m: number): Assignment {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j] = row matched to column j (1-based), 0 = none
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      const rowBase = (i0 - 1) * m - 1;
      const ui0 = u[i0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a[rowBase + j]! - ui0 - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const pj = p[j]!;
          u[pj] = u[pj]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n).fill(-1);
  const colToRow = new Int32Array(m).fill(-1);
  let total = 0;
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i > 0) {
      rowToCol[i - 1] = j - 1;
      colToRow[j - 1] = i - 1;
      total += a[(i - 1) * m + (j - 1)]!;
    }
  }
  return { rowToCol, colToRow, cost: total, method: 'exact' };
}

/** Greedy: take the cheapest remaining pair whose row and column are both free. */
export function greedyAssignment(cost: ArrayLike<number>, rows: number, cols: number): Assignment {
  const order = new Uint32Array(rows * cols);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const keys = Float64Array.from({ length: rows * cols }, (_, i) => cost[i]!);
  order.sort((x, y) => keys[x]! - keys[y]!);
  const rowToCol = new Int32Array(rows).fill(-1);
  const colToRow = new Int32Array(cols).fill(-1);
  let left = Math.min(rows, cols);
  let total = 0;
  for (let k = 0; k < order.length && left > 0; k++) {
    const idx = order[k]!;
    const r = Math.floor(idx / cols);
    const c = idx - r * cols;
    if (rowToCol[r] !== -1 || colToRow[c] !== -1) continue;
    rowToCol[r] = c;
    colToRow[c] = r;
    total += keys[idx]!;
    left--;
  }
  return { rowToCol, colToRow, cost: total, method: 'greedy' };
}
