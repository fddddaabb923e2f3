/**
 * Sweeps: one attack at several strengths on one or more models (e.g. the naive and the delve model of
 * the same key). Per point: strength, task accuracy, and the watermark score (align → extract → score,
 * through the injected `scorer`, with `invariant` alignment on or off). Per model: the strength at which
 * detection first fails (decision 'no match') and the accuracy there, and whether the mark is still
 * detected at every strength where the attacked model keeps its accuracy (≥ `accuracyFloor`).
 *
 * The scorer and the evaluator are injected (src/attacks/pipeline.ts wires the real ones) so the
 * bookkeeping here is tested without ONNX Runtime or a trainer.
 */
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { defaults } from '../core/config.js';
import { logStudentTUpperTail } from '../core/stats.js';
import type { Attack, AttackContext } from './types.js';

export interface SweepModel {
  /** e.g. "naive", "delve". */
  readonly label: string;
  /** The owner's watermarked model: what is attacked, and the reference for invariant alignment. */
  readonly params: ParamSet;
  readonly arch: Architecture;
  /** The owner's model, when `params` is a copy that is not (e.g. already modified): the alignment reference instead of `params`. */
  readonly reference?: ParamSet;
  /** The model's weights from before its key was drawn: the invariant stage aligns onto them, without inflation (docs/statistics.md). */
  readonly anchor?: ParamSet;
  /** This model's own key, when the models of a sweep carry different keys. */
  readonly key?: WatermarkKey;
  /** Where the model was loaded from (a model folder or file), recorded in its series so a reader can tell which model a report measured. */
  readonly source?: string;
}

/** The fields of core/score's Score a sweep reads. */
export interface ScoreLike {
  readonly r: number;
  readonly n: number;
  readonly pValue: number;
  readonly log10p: number;
  readonly decision: 'match' | 'no match';
  readonly ber?: number;
  readonly fpr?: number;
  readonly comparisons?: number;
}

export type Scorer = (suspect: ParamSet, suspectArch: Architecture, owner: SweepModel, opts: { invariant: boolean }) => ScoreLike | Promise<ScoreLike>;
/** Task accuracy in [0, 1] of a param set (its arch may be widened by a shape-changing attack). */
export type Evaluator = (set: ParamSet, arch: Architecture) => Promise<number>;

export interface SweepPoint {
  readonly strength: number;
  readonly accuracy: number;
  readonly r: number;
  readonly n: number;
  readonly pValue: number;
  readonly log10p: number;
  readonly ber: number | null;
  readonly decision: 'match' | 'no match';
  /** Why the score could not be computed (e.g. the alignment refused the shapes); then r is NaN. */
  readonly error?: string;
  readonly seconds: number;
}

export interface SweepSeries {
  readonly model: string;
  /** The SweepModel's source, when it had one. */
  readonly source?: string;
  /** The unattacked model. */
  readonly baseline: SweepPoint;
  readonly points: readonly SweepPoint[];
  /** First point, in sweep order, whose decision is 'no match'; null when every point matches. */
  readonly firstFailure: { readonly strength: number; readonly accuracy: number } | null;
  /** This model's floor: the absolute one, or its unattacked accuracy minus the allowed drop. */
  readonly accuracyFloor: number;
  /** True when every point with accuracy ≥ accuracyFloor is a 'match'. */
  readonly detectedWhereAccurate: boolean;
}

export interface SweepResult {
  readonly attack: { readonly name: string; readonly title: string; readonly strengthName: string; readonly unit: string; readonly decreasing: boolean; readonly functionPreserving: boolean };
  readonly invariant: boolean;
  readonly accuracyFloor: number;
  /** r at which the decision flips for the baseline's n, fpr and comparisons (the plot's dashed line); null if unknown. */
  readonly rThreshold: number | null;
  readonly series: readonly SweepSeries[];
  readonly seconds: number;
}

export interface SweepProgress {
  readonly model: string;
  readonly strength: number | null;
  readonly done: number;
  readonly total: number;
  readonly point?: SweepPoint;
}

export interface SweepOptions {
  readonly attack: Attack;
  /** Defaults to the attack's default strengths. */
  readonly strengths?: readonly number[];
  readonly models: readonly SweepModel[];
  readonly scorer: Scorer;
  readonly evaluate: Evaluator;
  /** Align with the function-preserving invariances undone (permutation, rescaling, dummy neurons). */
  readonly invariant?: boolean;
  /**
   * Accuracy the attacker must keep for the model to be worth stealing: an absolute level (default 0.95,
   * MNIST's), or `{ drop }`: each model's unattacked accuracy minus that (CIFAR-10: 5 points).
   */
  readonly accuracyFloor?: number | { readonly drop: number };
  readonly seed?: number;
  /** Passed to the attack (trainer, keygen, data limit, attack options). */
  readonly context?: Omit<AttackContext, 'seed' | 'signal'>;
  /** Pre-computed baselines by model label (saves one evaluation per model per sweep). */
  readonly baselines?: Readonly<Record<string, SweepPoint>>;
  readonly onProgress?: (p: SweepProgress) => void;
  readonly signal?: AbortSignal;
}

/** The smallest r the decision calls a match: one-sided Student t with n − 2 df, Bonferroni for comparisons. */
export function rThreshold(n: number, fpr: number, comparisons = 1): number {
  const lnTarget = Math.log(fpr) - Math.log(Math.max(1, comparisons));
  const lnP = (r: number) => logStudentTUpperTail(r * Math.sqrt((n - 2) / (1 - r * r)), n - 2);
  let lo = 0;
  let hi = 1 - 1e-12;
  if (lnP(lo) <= lnTarget) return 0;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (lnP(mid) < lnTarget) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * One point: the accuracy of `set` and its score against `owner` (the alignment reference). A score that
 * cannot be computed (the alignment refuses the shapes) is a 'no match' with r NaN and the reason in `error`.
 */
export async function measurePoint(
  set: ParamSet,
  arch: Architecture,
  strength: number,
  owner: SweepModel,
  o: Pick<SweepOptions, 'scorer' | 'evaluate' | 'invariant'>,
  started = Date.now(),
): Promise<SweepPoint> {
  const accuracy = await o.evaluate(set, arch);
  try {
    const s = await o.scorer(set, arch, owner, { invariant: o.invariant ?? false });
    return { strength, accuracy, r: s.r, n: s.n, pValue: s.pValue, log10p: s.log10p, ber: s.ber ?? null, decision: s.decision, seconds: (Date.now() - started) / 1000 };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return { strength, accuracy, r: NaN, n: 0, pValue: 1, log10p: 0, ber: null, decision: 'no match', error, seconds: (Date.now() - started) / 1000 };
  }
}

/**
 * Runs the sweep. Cumulative attacks (epochs of training) with non-decreasing strengths continue from
 * the previous point's model with the difference of strengths instead of starting over.
 * @throws the AbortSignal's reason when aborted.
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const t0 = Date.now();
  const strengths = [...(o.strengths ?? o.attack.strength.defaults)];
  const floorOf = (baseline: SweepPoint): number => {
    const f = o.accuracyFloor ?? 0.95;
    return typeof f === 'number' ? f : baseline.accuracy - f.drop;
  };
  const total = o.models.length * (strengths.length + 1);
  let done = 0;
  const series: SweepSeries[] = [];
  const cumulative = o.attack.cumulative && strengths.every((s, i) => i === 0 || s >= strengths[i - 1]!);
  for (const [mi, model] of o.models.entries()) {
    o.signal?.throwIfAborted();
    const baseline = o.baselines?.[model.label] ?? { ...(await measurePoint(model.params, model.arch, 0, model, o, Date.now())), strength: 0 };
    o.onProgress?.({ model: model.label, strength: null, done: ++done, total, point: baseline });
    const points: SweepPoint[] = [];
    let prev = { set: model.params, arch: model.arch, strength: 0 };
    for (const [si, strength] of strengths.entries()) {
      o.signal?.throwIfAborted();
      const started = Date.now();
      const ctx: AttackContext = { ...o.context, seed: (o.seed ?? 1) * 1000003 + mi * 7 + (cumulative ? 0 : si), ...(o.signal ? { signal: o.signal } : {}) };
      const from = cumulative ? prev : { set: model.params, arch: model.arch, strength: 0 };
      const attacked = await o.attack.run(from.set, from.arch, strength - from.strength, ctx);
      if (cumulative) prev = { ...attacked, strength };
      const point = await measurePoint(attacked.set, attacked.arch, strength, model, o, started);
      points.push(point);
      o.onProgress?.({ model: model.label, strength, done: ++done, total, point });
    }
    const fail = points.find((p) => p.decision === 'no match');
    const floor = floorOf(baseline);
    series.push({
      model: model.label,
      ...(model.source !== undefined ? { source: model.source } : {}),
      baseline,
      points,
      firstFailure: fail ? { strength: fail.strength, accuracy: fail.accuracy } : null,
      accuracyFloor: floor,
      detectedWhereAccurate: points.every((p) => p.accuracy < floor || p.decision === 'match'),
    });
  }
  const b = series[0]?.baseline;
  let threshold: number | null = null;
  if (b && b.n > 2) {
    const s = await o.scorer(o.models[0]!.params, o.models[0]!.arch, o.models[0]!, { invariant: o.invariant ?? false });
    threshold = rThreshold(s.n, s.fpr ?? defaults.score.fpr, s.comparisons ?? 1);
  }
  return {
    attack: {
      name: o.attack.name,
      title: o.attack.title,
      strengthName: o.attack.strength.name,
      unit: o.attack.strength.unit,
      decreasing: o.attack.strength.decreasing ?? false,
      functionPreserving: o.attack.functionPreserving,
    },
    invariant: o.invariant ?? false,
    accuracyFloor: series[0]?.accuracyFloor ?? (typeof o.accuracyFloor === 'number' ? o.accuracyFloor : 0.95),
    rThreshold: threshold,
    series,
    seconds: (Date.now() - t0) / 1000,
  };
}
