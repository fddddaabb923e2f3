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

export interface AlignCandidate {
  readonly key: WatermarkKey;
  /** Id under which workers cache the reference (the key's model id). */
  readonly referenceId: string;
  readonly reference?: ParamSet;
  readonly arch?: string | null;
}

export type AlignOutcome =
  | { ok: true; mapping: { keyTensor: string; suspectTensor: string; method: string; transform: string }[]; comparisons: number; notes: string[]; extracted: Float32Array }
  | { ok: false; failure: string };

export function alignAndExtract(suspect: ParamSet, candidates: readonly AlignCandidate[], reference: (c: AlignCandidate) => ParamSet | undefined): AlignOutcome[] {
  return candidates.map((c) => {
    try {
      const arch = c.arch && architectureNames().includes(c.arch) ? getArchitecture(c.arch) : undefined;
      const ref = reference(c);
      const a = alignToKey(suspect, c.key, { ...(ref ? { reference: ref } : {}), ...(arch ? { arch } : {}) });
      const extracted = Float32Array.from(extractValues(a.params, c.key));
      return { ok: true, mapping: a.mapping.map((m) => ({ ...m })), comparisons: a.comparisons, notes: [...a.notes], extracted };
    } catch (e) {
      return { ok: false, failure: (e as Error).message };
    }
  });
}
