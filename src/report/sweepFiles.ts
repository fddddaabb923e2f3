/** A sweep as files: JSON (NaN written as null) and CSV (one row per model and point, baseline first). */
import type { SweepPoint, SweepResult } from '../attacks/sweep.js';

/**
 * A report's sweeps from its JSON. Reports written before each series had its own floor (the LeNet5 one
 * of commit 566b593) hold only the sweep's: that is then every series' floor, as it was when measured —
 * without it a merged or redrawn summary would find no point above an undefined floor.
 */
export function parseSweeps(text: string): SweepResult[] {
  const results = JSON.parse(text) as SweepResult[];
  if (!Array.isArray(results) || !results.every((r) => typeof r === 'object' && r !== null && Array.isArray(r.series))) {
    throw new Error('not a robustness report\'s sweeps: expected a JSON array of sweeps, each with its series (what scripts/robustness-report.ts writes beside the report)');
  }
  return results.map((r) => ({ ...r, series: r.series.map((s) => ({ ...s, accuracyFloor: s.accuracyFloor ?? r.accuracyFloor })) }));
}

export function sweepToJson(result: SweepResult | readonly SweepResult[]): string {
  return JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

const header = ['attack', 'invariant', 'model', 'point', 'strength', 'accuracy', 'r', 'n', 'p_value', 'log10_p', 'ber', 'decision', 'error'];

function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function row(r: SweepResult, model: string, kind: string, p: SweepPoint): string {
  return [r.attack.name, r.invariant, model, kind, p.strength, p.accuracy, p.r, p.n, p.pValue, p.log10p, p.ber, p.decision, p.error].map(cell).join(',');
}

export function sweepToCsv(results: SweepResult | readonly SweepResult[]): string {
  const list: readonly SweepResult[] = Array.isArray(results) ? results : [results as SweepResult];
  const lines = [header.join(',')];
  for (const r of list) {
    for (const s of r.series) {
      lines.push(row(r, s.model, 'baseline', s.baseline));
      for (const p of s.points) lines.push(row(r, s.model, 'attack', p));
    }
  }
  return lines.join('\n') + '\n';
}

/** How many of a report's sweeps hold a series of this model (a --series run adds one a sweep at a time). */
export function sweepsWith(results: readonly SweepResult[], model: string): number {
  return results.filter((r) => r.series.some((s) => s.model === model)).length;
}

/** The plot's file name of a sweep (docs/plots/<attack>[-invariant].svg), the same for the report and a re-render. */
export function plotFileName(result: Pick<SweepResult, 'attack' | 'invariant'>): string {
  return `${result.attack.name}${result.invariant ? '-invariant' : ''}.svg`;
}

/**
 * A partial re-measurement merged into the previous report: each fresh sweep replaces the previous one
 * of the same attack and alignment in place (the report keeps its order), sweeps new to the report go
 * last. `kept` counts the previous sweeps nothing replaced.
 */
export function mergeSweeps(previous: readonly SweepResult[], fresh: readonly SweepResult[]): { merged: SweepResult[]; kept: number } {
  const id = (r: Pick<SweepResult, 'attack' | 'invariant'>) => `${r.attack.name}|${r.invariant}`;
  const byId = new Map(fresh.map((r) => [id(r), r]));
  const previousIds = new Set(previous.map(id));
  const merged = [...previous.map((r) => byId.get(id(r)) ?? r), ...fresh.filter((r) => !previousIds.has(id(r)))];
  return { merged, kept: previous.filter((r) => !byId.has(id(r))).length };
}

/**
 * One model's series added to a previous report (robustness-report --series): each fresh sweep holds
 * only that series; it goes first in the previous sweep of the same attack and alignment (replacing an
 * older series of that name), as a run of both models would have put it — the sweep's floor and r
 * threshold are then the first series', as runSweep takes them. Previous series named in `rename` take
 * their current name (reports made before the committed series was called 'default' say 'naive'), and
 * the `sources` entry of that name when they record none (the caller has checked that they start from
 * what that model scores now). `kept` counts the previous sweeps that got no fresh series.
 * The section's time gains the fresh sweep's and loses a replaced series' points' (a series has no
 * time of its own; its points' attack-and-score times are nearly all of it), so re-measuring a series
 * does not count it twice.
 */
export function mergeSeries(previous: readonly SweepResult[], fresh: readonly SweepResult[], rename: Readonly<Record<string, string>> = {}, sources: Readonly<Record<string, string>> = {}): { merged: SweepResult[]; kept: number } {
  const id = (r: Pick<SweepResult, 'attack' | 'invariant'>) => `${r.attack.name}|${r.invariant}`;
  const byId = new Map(fresh.map((r) => [id(r), r]));
  const previousIds = new Set(previous.map(id));
  const merged = previous.map((r): SweepResult => {
    const others = r.series.map((s) => {
      const model = rename[s.model] ?? s.model;
      const source = s.source ?? sources[model];
      return { ...s, model, ...(source !== undefined ? { source } : {}) };
    });
    const f = byId.get(id(r));
    if (!f) return { ...r, series: others };
    const labels = new Set(f.series.map((s) => s.model));
    const replacedSeconds = others.filter((s) => labels.has(s.model)).reduce((t, s) => t + s.points.reduce((u, p) => u + p.seconds, 0), 0);
    const seconds = Math.max(0, r.seconds - replacedSeconds) + f.seconds;
    return { ...r, accuracyFloor: f.accuracyFloor, rThreshold: f.rThreshold, seconds, series: [...f.series, ...others.filter((s) => !labels.has(s.model))] };
  });
  return { merged: [...merged, ...fresh.filter((r) => !previousIds.has(id(r)))], kept: previous.filter((r) => !byId.has(id(r))).length };
}
