/**
 * Seeded randomness for attacks (never Math.random): mulberry32 for uniforms, Box-Muller for normals.
 * Not cryptographic — attacks only need reproducibility.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal. */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
}

export function createRng(seed: number): Rng {
  let a = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  let spare: number | undefined;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const m = Math.sqrt(-2 * Math.log(u));
      spare = m * Math.sin(2 * Math.PI * v);
      return m * Math.cos(2 * Math.PI * v);
    },
    int(n: number) {
      return Math.floor(next() * n);
    },
  };
}

/** Fisher-Yates shuffle in place; returns the array. */
export function shuffle<T extends { [i: number]: number; length: number }>(a: T, rng: Rng): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/**
 * A permutation of 0..c-1 that moves a random subset of round(fraction · c) positions among
 * themselves: out[u] is the old index now at u.
 */
export function partialPermutation(c: number, fraction: number, rng: Rng): Int32Array {
  const chosen = shuffle(Int32Array.from({ length: c }, (_, i) => i), rng).slice(0, Math.round(fraction * c));
  const sorted = Int32Array.from(chosen).sort();
  const source = Int32Array.from({ length: c }, (_, i) => i);
  const moved = shuffle(Int32Array.from(sorted), rng);
  sorted.forEach((pos, i) => (source[pos] = moved[i]!));
  return source;
}
