/**
 * The CPU-heavy middle of a verification, once per reference model rather than once per key: align
 * the suspect onto each reference (a base model and every key that refers to it — its owner key and
 * all its licensees' keys), then score the whole key bank of that reference in one pass. Pure core
 * code, no tfjs; runs in a verification worker thread (verifyPool.ts) or in-process.
 *
 * Two passes. As read (layout and names only, ~ms): when some key already matches far below the
 * false-positive rate, the suspect kept our layout and every key is judged as read — skipping the
 * invariant stage removes tests, it cannot add a false match. Otherwise the invariant re-alignment
 * (permutations, rescaling, dummy units) runs once per reference, and each key keeps the better of the
 * two alignments, Bonferroni-corrected over both and over every key, with the measured variance
 * inflation of the invariant stage.
 */
import { alignToKey } from '../core/align/index.js';
import { findArchitecture, type Architecture } from '../core/architectures.js';
import { fromOriginal, type OriginMap } from '../formats/onnx/origin.js';
import { buildKeyBank, scoreBank, type BankScore, type KeyBank } from '../core/keyBank.js';
import type { ParamSet } from '../core/paramSet.js';
import type { Score } from '../core/score.js';
import type { WatermarkKey } from '../core/watermarkKey.js';

/** How far below log10(fpr) a key must score as read for the invariant stage to be skipped. */
const DECISIVE_MARGIN = 3;

export interface GroupInput {
  /** Content digest of the reference model (workers cache references under it). */
  readonly referenceId: string;
  /** Omitted when the worker already holds it. */
  readonly reference?: ParamSet;
  readonly arch?: string | null;
  /** The reference's architecture when it was imported from ONNX: worker threads cannot resolve its name. */
  readonly architecture?: Architecture;
  /**
   * The imported reference's origin map: a suspect holding its original tensor names (the licensor's
   * ONNX, .pt or safetensors) is read into canonical layout through it before alignment.
   */
  readonly origin?: OriginMap;
  /**
   * Positions masked out of every content comparison: those of the keys whose values the reference
   * itself carries (its owner key), so alignment choices never read them. As a key over the
   * reference's tensors (values unused).
   */
  readonly mask: WatermarkKey;
  readonly bank: KeyBank;
  /** The invariant stage's variance inflation for this group (default: the options'); 1 for an anchored reference. */
  readonly inflation?: number;
  /** Score only these keys of the bank (a verification scoped to a model or licensee). */
  readonly only?: readonly number[];
}

export interface VerifyOptions {
  readonly fpr: number;
  readonly combination: 'min' | 'fisher' | 'pooled';
  /** Variance inflation of r through the invariant stage (measured, docs/statistics.md). */
  readonly inflation: number;
  /** Keys per reference scored exactly even when they cannot match. */
  readonly detail?: number;
  /** Only the as-read pass (an attack simulation's plain alignment); default: both passes. */
  readonly asReadOnly?: boolean;
}

export interface KeyResult {
  readonly key: number;
  readonly score?: Score;
  readonly error?: string;
  /** Which alignment the score came from. */
  readonly alignment?: 'as read' | 'invariant';
}

export interface GroupOutcome {
  readonly referenceId: string;
  readonly aligned: boolean;
  readonly failure?: string;
  readonly mapping: { keyTensor: string; suspectTensor: string; method: string; transform: string }[];
  readonly notes: string[];
  /** Alignments tried for this reference (both passes). */
  readonly alignments: number;
  readonly invariant: boolean;
  /** Exact results (every key that could match, and the strongest few). */
  readonly results: KeyResult[];
  /** Keys screened out (cannot match), and the strongest bound among them. */
  readonly screened: { readonly count: number; readonly bestLog10pBound: number };
}

interface Aligned {
  readonly params?: ParamSet;
  readonly failure?: string;
  readonly mapping: GroupOutcome['mapping'];
  readonly notes: string[];
  readonly comparisons: number;
}

function align(suspect: ParamSet, g: GroupInput, reference: ParamSet, invariant: boolean): Aligned {
  const arch = g.architecture ?? findArchitecture(g.arch);
  const mapped = g.origin ? fromOriginal(suspect.tensors, g.origin) : undefined;
  try {
    const a = alignToKey(mapped ?? suspect, g.mask, { reference, ...(arch ? { arch } : {}), invariant });
    return { params: a.params, mapping: a.mapping.map((m) => ({ ...m })), notes: [...a.notes], comparisons: a.comparisons };
  } catch (e) {
    return { failure: (e as Error).message, mapping: [], notes: [], comparisons: 1 };
  }
}

const keysOf = (g: GroupInput): number => g.only?.length ?? g.bank.offsets.length - 1;

function score(g: GroupInput, a: Aligned, o: VerifyOptions, comparisons: number, inflation: number): BankScore[] | undefined {
  if (!a.params) return undefined;
  return scoreBank(g.bank, a.params, { fpr: o.fpr, combination: o.combination, inflation, comparisons, ...(o.detail !== undefined ? { detail: o.detail } : {}), ...(g.only ? { only: g.only } : {}) });
}

const log10pOf = (s: BankScore): number => ('score' in s ? s.score.log10p : 'screened' in s ? s.screened.log10pBound : 0);

/**
 * Verifies a suspect against every group. `referenceOf` supplies a reference the message did not carry.
 * @throws Error when a group's reference is neither given nor cached.
 */
export function verifyGroups(
  suspect: ParamSet, groups: readonly GroupInput[], o: VerifyOptions, referenceOf: (g: GroupInput) => ParamSet | undefined,
  /** Sees each aligned suspect (the null study scores them itself); in-process use only. */
  observe?: (pass: 'as read' | 'invariant', group: number, aligned: ParamSet | undefined, comparisons: number, mapping: GroupOutcome['mapping']) => void,
): GroupOutcome[] {
  const refs = groups.map((g) => {
    const r = g.reference ?? referenceOf(g);
    if (!r) throw new Error(`reference ${g.referenceId} is neither in the message nor cached`);
    return r;
  });
  const asRead = groups.map((g, i) => align(suspect, g, refs[i]!, false));
  asRead.forEach((a, i) => observe?.('as read', i, a.params, a.comparisons, a.mapping));
  const cRead = groups.reduce((a, g, i) => a + keysOf(g) * asRead[i]!.comparisons, 0);
  const readScores = groups.map((g, i) => score(g, asRead[i]!, o, cRead, 1));
  const threshold = Math.log10(o.fpr) - DECISIVE_MARGIN;
  const decisive = readScores.some((ss) => ss?.some((s) => 'score' in s && s.score.log10p < threshold));
  if (decisive || o.asReadOnly) {
    const note = decisive ? 'invariant re-alignment skipped: a key matched as read, far below the threshold' : 'as read only, as asked';
    return groups.map((g, i) => outcome(g, asRead[i]!, readScores[i], undefined, undefined, false, [note]));
  }
  const inv = groups.map((g, i) => align(suspect, g, refs[i]!, true));
  inv.forEach((a, i) => observe?.('invariant', i, a.params, a.comparisons, a.mapping));
  const cBoth = groups.reduce((a, g, i) => a + keysOf(g) * (asRead[i]!.comparisons + inv[i]!.comparisons), 0);
  const shift = Math.log10(cBoth / Math.max(1, cRead));
  return groups.map((g, i) => {
    const read = rescore(g, asRead[i]!, readScores[i], o, cBoth, shift);
    const invScores = score(g, inv[i]!, o, cBoth, g.inflation ?? o.inflation);
    return outcome(g, inv[i]!.params ? inv[i]! : asRead[i]!, read, invScores, asRead[i]!.comparisons + inv[i]!.comparisons, true, []);
  });
}

/** A suspect as one key's verification read it: the score, the alignment kept, and the suspect so aligned. */
export interface OneKeyVerdict {
  readonly score: Score;
  readonly alignment: 'as read' | 'invariant';
  readonly aligned: ParamSet;
  readonly mapping: GroupOutcome['mapping'];
  /** Whether the invariant pass ran (not when only as read was asked, or as read was already decisive). */
  readonly invariantRan: boolean;
}

/**
 * The key in row `row` of a group scored as a verification scoped to it would score it (both passes
 * unless `asReadOnly`, the group's reference and mask): what an attack simulation and the CLI report,
 * so that their numbers are the service's. @throws Error when the suspect cannot be aligned or scored.
 */
export function verifyOneKey(suspect: ParamSet, g: GroupInput & { readonly reference: ParamSet }, row: number, o: VerifyOptions): OneKeyVerdict {
  const seen = new Map<'as read' | 'invariant', { params: ParamSet; mapping: GroupOutcome['mapping'] }>();
  const out = verifyGroups(suspect, [{ ...g, only: [row] }], { ...o, detail: 1 }, () => g.reference, (pass, _g, params, _c, mapping) => {
    if (params) seen.set(pass, { params, mapping });
  })[0]!;
  if (!out.aligned) throw new Error(out.failure ?? 'not aligned');
  const res = out.results[0];
  if (!res?.score) throw new Error(res?.error ?? 'not scored');
  const alignment = res.alignment ?? 'as read';
  const kept = seen.get(alignment)!;
  return { score: res.score, alignment, aligned: kept.params, mapping: kept.mapping, invariantRan: seen.has('invariant') };
}

/** verifyOneKey's score alone (the service's attack jobs). */
export function scoreOneKey(suspect: ParamSet, g: GroupInput & { readonly reference: ParamSet }, row: number, o: VerifyOptions): Score {
  return verifyOneKey(suspect, g, row, o).score;
}

/**
 * A group of one key aligned onto `reference` (the CLI's extract and attack: no registry, one key).
 * `inflation` is the invariant stage's: 1 onto the anchor, the measured factor onto a marked model.
 */
export function oneKeyGroup(key: WatermarkKey, reference: ParamSet, architecture: Architecture | undefined, inflation: number): GroupInput & { readonly reference: ParamSet } {
  return { referenceId: 'one key', reference, ...(architecture ? { architecture, arch: architecture.name } : {}), mask: key, bank: buildKeyBank([key]), inflation };
}

/**
 * The as-read scores under the larger correction of both passes: screened keys keep their bound, moved
 * up by the extra Bonferroni factor (still a lower bound, still above the threshold); the few keys
 * scored exactly are scored again.
 */
function rescore(g: GroupInput, a: Aligned, first: BankScore[] | undefined, o: VerifyOptions, comparisons: number, shift: number): BankScore[] | undefined {
  if (!first || !a.params) return undefined;
  const exact = first.filter((s) => !('screened' in s)).map((s) => s.key);
  const again = new Map((exact.length ? scoreBank(g.bank, a.params, { fpr: o.fpr, combination: o.combination, inflation: 1, comparisons, detail: exact.length, only: exact }) : []).map((s) => [s.key, s]));
  return first.map((s) => ('screened' in s ? { key: s.key, screened: { ...s.screened, log10pBound: Math.min(0, s.screened.log10pBound + shift) } } : again.get(s.key)!));
}

function outcome(g: GroupInput, a: Aligned, read: BankScore[] | undefined, inv: BankScore[] | undefined, alignments: number | undefined, invariant: boolean, notes: string[]): GroupOutcome {
  if (!read && !inv) {
    return { referenceId: g.referenceId, aligned: false, failure: a.failure ?? 'not aligned', mapping: [], notes, alignments: alignments ?? a.comparisons, invariant, results: [], screened: { count: 0, bestLog10pBound: 0 } };
  }
  const n = (read ?? inv)!.length;
  const results: KeyResult[] = [];
  let count = 0;
  let best = 0;
  for (let i = 0; i < n; i++) {
    // The better of the two alignments for this key (both were paid for in the correction).
    const r = read?.[i];
    const v = inv?.[i];
    const pick = !v || (r && log10pOf(r) <= log10pOf(v)) ? r! : v;
    const from: KeyResult['alignment'] = pick === r ? 'as read' : 'invariant';
    if ('score' in pick) results.push({ key: pick.key, score: pick.score, alignment: from });
    else if ('error' in pick) results.push({ key: pick.key, error: pick.error });
    else {
      count++;
      best = Math.min(best, pick.screened.log10pBound);
    }
  }
  return {
    referenceId: g.referenceId, aligned: true, mapping: a.mapping, notes: [...a.notes, ...notes], alignments: alignments ?? a.comparisons, invariant, results,
    screened: { count, bestLog10pBound: best },
  };
}
