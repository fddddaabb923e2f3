/**
 * Stage (a): find suspect tensors by name — exactly, then normalised so that the spellings of one
 * tensor in different toolchains meet: `conv1/kernel` ~ `conv1.weight` ~ `conv1/kernel:0` ~
 * `model/conv1/kernel`.
 */
import type { TargetTensor } from './types.js';

const KERNEL_WORDS = new Set(['kernel', 'weight', 'weights', 'w']);
const BIAS_WORDS = new Set(['bias', 'biases', 'b']);

/** `<layer>/kernel` or `<layer>/bias` when the name ends in a known role word, else the cleaned name. */
export function normaliseName(name: string): string {
  const cleaned = name.trim().toLowerCase().replace(/:\d+$/, '');
  const tokens = cleaned.split(/[/.]+/).filter((t) => t.length > 0);
  const last = tokens.pop();
  if (last === undefined) return cleaned;
  const role = KERNEL_WORDS.has(last) ? 'kernel' : BIAS_WORDS.has(last) ? 'bias' : undefined;
  if (role === undefined) return [...tokens, last].join('/');
  const layer = tokens.pop();
  return layer === undefined ? role : `${layer}/${role}`;
}

export interface NameMatch {
  readonly target: number;
  readonly suspect: number;
  readonly exact: boolean;
}

/**
 * Pairs targets with suspect tensors by exact name, then by normalised name where the normalised
 * name is unique on both sides (two suspects that normalise alike are left to the later stages).
 */
export function matchByName(targets: readonly TargetTensor[], suspectNames: readonly string[]): NameMatch[] {
  const out: NameMatch[] = [];
  const usedT = new Set<number>();
  const usedS = new Set<number>();
  const exactIndex = new Map<string, number>();
  suspectNames.forEach((n, i) => {
    if (!exactIndex.has(n)) exactIndex.set(n, i);
  });
  targets.forEach((t, ti) => {
    const si = exactIndex.get(t.name);
    if (si !== undefined && !usedS.has(si)) {
      out.push({ target: ti, suspect: si, exact: true });
      usedT.add(ti);
      usedS.add(si);
    }
  });
  const normS = new Map<string, number[]>();
  suspectNames.forEach((n, i) => {
    if (usedS.has(i)) return;
    const k = normaliseName(n);
    normS.set(k, [...(normS.get(k) ?? []), i]);
  });
  const normT = new Map<string, number[]>();
  targets.forEach((t, i) => {
    if (usedT.has(i)) return;
    const k = normaliseName(t.name);
    normT.set(k, [...(normT.get(k) ?? []), i]);
  });
  for (const [k, ts] of normT) {
    const ss = normS.get(k);
    if (ts.length === 1 && ss !== undefined && ss.length === 1) out.push({ target: ts[0]!, suspect: ss[0]!, exact: false });
  }
  return out.sort((a, b) => a.target - b.target);
}
