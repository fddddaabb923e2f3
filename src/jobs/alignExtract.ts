/**
 * The CPU-heavy middle of a verification: align the suspect onto each candidate key's tensors (using
 * the key's model as the content reference) and extract the values at the key's positions. Pure core
 * code, no tfjs; runs in a verification worker thread (verifyPool.ts) or in-process.
 */
import { alignToKey } from '../core/align/index.js';
import { extractValues } from '../core/extract.js';
import { getArchitecture, architectureNames } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { scoreAgainstKey } from '../core/score.js';

/**
 * A suspect whose mark is found as read, with a p-value this many decades below the false-positive
 * rate, skips invariant re-alignment (about 1 s for LeNet5): no Bonferroni factor under 1,000 — far
 * more alignments than the invariant stage tries — could change its decision.
 */
const decisiveMargin = 3;

export interface AlignCandidate {
  readonly key: WatermarkKey;
  /** Id under which workers cache the reference (the key's model id). */
  readonly referenceId: string;
  readonly reference?: ParamSet;
  readonly arch?: string | null;
  /** The verification's false-positive rate: enables the fast path for suspects that match as read. */
  readonly fpr?: number;
}

export type AlignOutcome =
  | { ok: true; mapping: { keyTensor: string; suspectTensor: string; method: string; transform: string }[]; comparisons: number; notes: string[]; extracted: Float32Array }
  | { ok: false; failure: string };

function align(suspect: ParamSet, key: WatermarkKey, opts: Parameters<typeof alignToKey>[2]): AlignOutcome {
  try {
    const a = alignToKey(suspect, key, opts);
    const extracted = Float32Array.from(extractValues(a.params, key));
    return { ok: true, mapping: a.mapping.map((m) => ({ ...m })), comparisons: a.comparisons, notes: [...a.notes], extracted };
  } catch (e) {
    return { ok: false, failure: (e as Error).message };
  }
}

/**
 * Aligns and extracts for every candidate key. First as read (no invariant re-alignment, ~1 ms): when
 * any key already matches decisively, the suspect kept our layout, so every key is judged as read —
 * skipping the re-alignment only removes tests, it cannot add a false match. Otherwise each key gets
 * the full invariant alignment against its reference.
 */
export function alignAndExtract(suspect: ParamSet, candidates: readonly AlignCandidate[], reference: (c: AlignCandidate) => ParamSet | undefined): AlignOutcome[] {
  const prepared = candidates.map((c) => {
    const arch = c.arch && architectureNames().includes(c.arch) ? getArchitecture(c.arch) : undefined;
    const ref = reference(c);
    return { c, opts: { ...(ref ? { reference: ref } : {}), ...(arch ? { arch } : {}) }, fast: ref !== undefined && c.fpr !== undefined };
  });
  const asRead = prepared.map((p) => (p.fast ? align(suspect, p.c.key, { ...p.opts, invariant: false }) : undefined));
  const decisive = asRead.some((o, i) => {
    const c = prepared[i]!.c;
    if (!o?.ok || c.fpr === undefined) return false;
    return scoreAgainstKey(o.extracted, c.key, { fpr: c.fpr, comparisons: o.comparisons }).log10p < Math.log10(c.fpr) - decisiveMargin;
  });
  return prepared.map((p, i) => {
    const o = asRead[i];
    if (decisive && o?.ok) return { ...o, notes: [...o.notes, 'invariant re-alignment skipped: a key matched as read, far below the threshold'] };
    return align(suspect, p.c.key, p.opts);
  });
}
