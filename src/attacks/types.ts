/**
 * The attack contract: a function from a param set (and its architecture) to a param set, never
 * mutating its input. Every attack returns `{ set, arch }` — even those that keep shapes — so that
 * shape-changing attacks (dummy neurons) and chains need no special case.
 */
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { DatasetName } from '../data/datasets.js';

export interface AttackResult {
  readonly set: ParamSet;
  readonly arch: Architecture;
}

/** What a training attack needs from the trainer (the shape of `trainModel` in src/training/train.ts). */
export interface TrainRequest {
  readonly arch: Architecture;
  /** A built-in dataset, or an uploaded one's id the trainer was given (AttackContext.dataset). */
  readonly dataset: DatasetName | (string & {});
  readonly strategy: 'none' | 'naive' | 'delve';
  readonly key?: WatermarkKey;
  readonly init?: ParamSet;
  /** Tensors held fixed (frozen features). */
  readonly frozen?: readonly string[];
  readonly epochs: number;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly limit?: number;
  /** Attacks train at a constant learning rate, as an attacker fine-tuning a stolen model would. */
  readonly schedule?: 'cosine' | 'constant';
  readonly seed?: number;
  readonly onProgress?: (p: unknown) => void;
  readonly signal?: AbortSignal;
}
export type TrainFn = (req: TrainRequest) => Promise<{ params: ParamSet; testAccuracy?: number }>;
/** Makes the attacker's own key for the overwriting attack (wraps keygen's generateKey). */
export type KeyGenFn = (set: ParamSet, arch: Architecture, opts: { n: number; seed: number }) => WatermarkKey;

export interface AttackContext {
  /** Seed for every random choice the attack makes. */
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Needed by attacks with `needsData`. */
  readonly train?: TrainFn;
  readonly keygen?: KeyGenFn;
  /**
   * The data the model was trained on, which training attacks train on: a built-in dataset's name, or an
   * uploaded dataset's id that `train` knows. Default: the built-in whose images the architecture takes.
   */
  readonly dataset?: string;
  /** Training attacks: examples per epoch (undefined = the whole training set). */
  readonly dataLimit?: number;
  /** Attack-specific overrides (e.g. { lr: 0.01 }); each attack documents the ones it reads. */
  readonly options?: Readonly<Record<string, number | string | boolean>>;
}

export interface StrengthSpec {
  /** e.g. "bits", "fraction pruned", "σ / tensor std", "epochs". */
  readonly name: string;
  readonly unit: string;
  /** The sweep of the full report. */
  readonly defaults: readonly number[];
  /** A short sweep for --quick runs and CI. */
  readonly quick: readonly number[];
  /** True when a larger strength is a weaker attack (bits of quantization). */
  readonly decreasing?: boolean;
}

export interface Attack {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly strength: StrengthSpec;
  readonly needsData: boolean;
  /** Output tensors may have other shapes than the input's (the arch is widened). */
  readonly changesShape: boolean;
  /** The network computes exactly the same function after the attack (up to float rounding). */
  readonly functionPreserving: boolean;
  /**
   * Made to slip past the invariant alignment without preserving the function (both-sides rescaling,
   * which looks like drift): reports score it through that alignment too, as every function-preserving attack.
   */
  readonly targetsAlignment?: boolean;
  /**
   * Strength adds up (epochs): a sweep may apply the attack with the difference of strengths to the
   * previous point's result instead of starting over from the original model.
   */
  readonly cumulative: boolean;
  run(set: ParamSet, arch: Architecture, strength: number, ctx: AttackContext): Promise<AttackResult>;
  /** Why the attack cannot run on `arch` (no batch norm to re-estimate, images of another shape), or undefined when it can. */
  unfit?(arch: Architecture): string | undefined;
  /**
   * The name of another attack of the registry that does exactly what this one does on `arch` (same
   * layers touched, same training, same seeds), or undefined: a report runs one of the two.
   */
  sameAs?(arch: Architecture): string | undefined;
}
