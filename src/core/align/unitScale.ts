/**
 * Per-unit rescaling against the reference, for networks whose units the invariant stage cannot
 * permute (graphs: residual streams, batch norm). Deployment tools fold batch norm into the conv
 * before it — each output channel's filter multiplied by γ/√(var + ε) — and a rescaling attack does the
 * same on purpose; both leave the mark in place but scaled per channel, which lowers the correlation
 * without hiding it. Each output unit's scale is the least-squares fit of the suspect's filter to the
 * reference's over the positions the key does not use (so the mark cannot steer it), then divided out.
 */
import type { DenseTensor } from './tensorOps.js';

/** A unit's scale counts only when its filter is this far from the reference's direction at most (cosine). */
const MIN_UNIT_COSINE = 0.5;
/** Below this deviation from 1 everywhere the tensor is left as it is (a plain copy, a fine-tune). */
const MIN_SCALE_CHANGE = 1e-3;

export interface UnitScaling {
  readonly data: Float32Array;
  /** How many units were rescaled, and the range of their scales. */
  readonly units: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Divides each output unit (last axis) of `suspect` by its least-squares scale against `reference`,
 * positions with mask[i] = 1 left out of the fit. Undefined when no unit's scale differs from 1 by
 * more than MIN_SCALE_CHANGE (nothing to undo) or the shapes differ.
 */
export function rescaleUnits(suspect: DenseTensor, reference: DenseTensor, mask: Uint8Array): UnitScaling | undefined {
  if (suspect.shape.length < 2 || suspect.data.length !== reference.data.length) return undefined;
  const units = suspect.shape[suspect.shape.length - 1]!;
  const rows = suspect.data.length / units;
  const out = new Float32Array(suspect.data);
  let changed = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let o = 0; o < units; o++) {
    let sr = 0;
    let rr = 0;
    let ss = 0;
    for (let r = 0; r < rows; r++) {
      const i = r * units + o;
      if (mask[i]) continue;
      const a = suspect.data[i]!;
      const b = reference.data[i]!;
      sr += a * b;
      rr += b * b;
      ss += a * a;
    }
    if (rr === 0 || ss === 0 || Math.abs(sr) / Math.sqrt(rr * ss) < MIN_UNIT_COSINE) continue;
    const scale = sr / rr;
    if (Math.abs(scale - 1) <= MIN_SCALE_CHANGE) continue;
    for (let r = 0; r < rows; r++) out[r * units + o] = suspect.data[r * units + o]! / scale;
    changed++;
    min = Math.min(min, scale);
    max = Math.max(max, scale);
  }
  return changed > 0 ? { data: out, units: changed, min, max } : undefined;
}
