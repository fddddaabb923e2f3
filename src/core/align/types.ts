import type { Architecture } from '../architectures.js';
import type { ParamSet, ParamTensor } from '../paramSet.js';

export type MappingMethod = 'name' | 'layout' | 'order' | 'content';

export interface TensorMapping {
  readonly keyTensor: string;
  readonly suspectTensor: string;
  /** How the suspect tensor was found: by (normalised) name, by being the only shape fit, by file order among equal shapes, or by correlation with the reference. */
  readonly method: MappingMethod;
  /** What was done to its values, e.g. "identity", "transpose[2,3,1,0]", "flatten CHW→HWC", "units permuted (exact)", "rescaled per unit"; joined by "; ". */
  readonly transform: string;
}

export interface AlignmentResult {
  /** The key's tensors, named and shaped exactly as key.tensors (our layout), with the suspect's values mapped in. */
  readonly params: ParamSet;
  readonly mapping: readonly TensorMapping[];
  /**
   * How many candidate alignments were scored against the reference to pick the one used (at least 1:
   * decisions with a single candidate are not counted). Selection never reads the key's values: the
   * reference's entries at keyed positions are masked out of every comparison and scale estimate, so
   * for a suspect independent of the key the extracted values stay independent of the key values and
   * the score's null distribution holds without correction; the count is there for a conservative
   * Bonferroni correction all the same (it costs about log10(comparisons) in log10 p).
   */
  readonly comparisons: number;
  readonly notes: readonly string[];
}

export interface AlignOptions {
  /** The owner's watermarked model in canonical layout; must hold every key tensor with the key's shape. */
  readonly reference?: ParamSet;
  /** Architecture of the key's model; used to check the inferred layer chain. */
  readonly arch?: Architecture;
  /** Undo neuron permutation, per-unit positive rescaling and dummy neurons (needs a reference). Default: true when a reference is given. */
  readonly invariant?: boolean;
}

/** A tensor the alignment must produce: name and shape in our layout. */
export interface TargetTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

export type { ParamSet, ParamTensor };
