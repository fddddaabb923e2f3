/**
 * The robustness report as markdown: the setup, a summary (per attack and model: where detection first
 * fails, and whether the mark survives wherever the attacked model stays useful), then per attack a
 * table of strength × (accuracy, r, p, decision) per model and its plot.
 */
import type { SweepPoint, SweepResult, SweepSeries } from '../attacks/sweep.js';

export interface ReportSection {
  readonly result: SweepResult;
  /** Path of the SVG relative to the markdown file. */
  readonly plot?: string;
  readonly description?: string;
}

export interface ReportMeta {
  readonly title?: string;
  readonly command: string;
  readonly generatedAt: string;
  /** Lines of setup: models, key, data, backend, timings. */
  readonly setup: readonly string[];
  readonly notes?: readonly string[];
}

export function formatP(log10p: number): string {
  if (!Number.isFinite(log10p)) return '—';
  if (log10p > -3) return (10 ** log10p).toFixed(3);
  const e = Math.floor(log10p);
  const m = 10 ** (log10p - e);
  return `${m.toFixed(1)}e${e}`;
}

export const pct = (a: number) => (Number.isFinite(a) ? `${(a * 100).toFixed(2)}%` : '—');
const r3 = (r: number) => (Number.isFinite(r) ? r.toFixed(3) : '—');

export function strengthLabel(res: SweepResult, s: number): string {
  return res.attack.unit === '%' ? `${Number((s * 100).toPrecision(4))}%` : String(s);
}

export function strengthHeader(res: SweepResult): string {
  const { strengthName: name, unit } = res.attack;
  return unit && unit !== name && unit !== '%' ? `${name} (${unit})` : name;
}

function cells(p: SweepPoint): string[] {
  return [pct(p.accuracy), r3(p.r), p.error ? '—' : formatP(p.log10p), p.error ? 'no match (no score†)' : p.decision];
}

function errorNotes(res: SweepResult): string[] {
  const errors = new Map<string, string[]>();
  for (const s of res.series) for (const p of [s.baseline, ...s.points]) if (p.error) errors.set(p.error, [...(errors.get(p.error) ?? []), `${s.model} @ ${strengthLabel(res, p.strength)}`]);
  return [...errors].map(([e, where]) => `† ${where.join(', ')}: the alignment refused the suspect — ${e.length > 240 ? `${e.slice(0, 240)}…` : e}`);
}

/**
 * Whether the mark is detected at every attacked strength where the model keeps accuracy ≥ the series'
 * own floor: 'n/a' when no attacked point does. Read from the points, the same rule runSweep applies.
 */
export function detectionWhereAccurate(s: SweepSeries): 'yes' | 'no' | 'n/a' {
  const useful = s.points.filter((p) => p.accuracy >= s.accuracyFloor);
  if (useful.length === 0) return 'n/a';
  return useful.every((p) => p.decision === 'match') ? 'yes' : 'no';
}

function verdict(res: SweepResult, s: SweepSeries): string {
  const fail = s.firstFailure ? `first fails at ${strengthHeader(res)} = ${strengthLabel(res, s.firstFailure.strength)} (accuracy ${pct(s.firstFailure.accuracy)})` : 'detected at every strength';
  const floor = `${(s.accuracyFloor * 100).toFixed(0)}%`;
  const kept = { 'n/a': `no attacked point keeps accuracy ≥ ${floor}`, yes: `**yes** — detected at every strength where accuracy ≥ ${floor}`, no: `**no** — lost at a strength where accuracy is still ≥ ${floor}` }[detectionWhereAccurate(s)];
  return `${fail}; ${kept}`;
}

export function heading(res: SweepResult): string {
  return `${res.attack.title}${res.invariant ? ' — invariant alignment' : ''}`;
}

export function renderRobustnessReport(sections: readonly ReportSection[], meta: ReportMeta): string {
  const out: string[] = [];
  out.push(`# ${meta.title ?? 'Robustness of the watermark against attacks'}`, '');
  out.push(`Generated ${meta.generatedAt} by \`${meta.command}\`.`, '');
  if (meta.setup.length) out.push('## Setup', '', ...meta.setup.map((l) => `- ${l}`), '');
  const models = [...new Set(sections.flatMap((s) => s.result.series.map((x) => x.model)))];
  out.push('## Summary', '');
  out.push(`Per attack and model: the strength at which the decision first says *no match*, and whether the mark is still detected at every strength where the attacked model keeps its accuracy (≥ ${((sections[0]?.result.accuracyFloor ?? 0.95) * 100).toFixed(0)}% on the test set) — the attacks that matter.`, '');
  out.push(`| attack | ${models.map((m) => `${m}: first failure (accuracy) | ${m}: detected wherever accurate`).join(' | ')} |`);
  out.push(`|---|${models.map(() => '---|---').join('|')}|`);
  for (const { result } of sections) {
    const row = models.map((m) => {
      const s = result.series.find((x) => x.model === m);
      if (!s) return '— | —';
      const ff = s.firstFailure ? `${strengthLabel(result, s.firstFailure.strength)} (${pct(s.firstFailure.accuracy)})` : 'none';
      return `${ff} | ${{ yes: 'yes', no: '**no**', 'n/a': 'n/a (accuracy < floor everywhere)' }[detectionWhereAccurate(s)]}`;
    });
    out.push(`| ${heading(result)} | ${row.join(' | ')} |`);
  }
  out.push('');
  for (const sec of sections) {
    const res = sec.result;
    out.push(`## ${heading(res)}`, '');
    if (sec.description) out.push(sec.description, '');
    if (res.rThreshold !== null) out.push(`Decision threshold: r ≥ ${res.rThreshold.toFixed(3)} (the p-value below the false-positive rate). Sweep time ${res.seconds.toFixed(1)} s.`, '');
    const series = res.series;
    out.push(`| ${strengthHeader(res)} | ${series.map((s) => `${s.model} accuracy | ${s.model} r | ${s.model} p | ${s.model} decision`).join(' | ')} |`);
    out.push(`|---|${series.map(() => '---|---|---|---').join('|')}|`);
    out.push(`| none | ${series.map((s) => cells(s.baseline).join(' | ')).join(' | ')} |`);
    const strengths = series[0]?.points.map((p) => p.strength) ?? [];
    strengths.forEach((st, i) => {
      out.push(`| ${strengthLabel(res, st)} | ${series.map((s) => (s.points[i] ? cells(s.points[i]!).join(' | ') : '— | — | — | —')).join(' | ')} |`);
    });
    out.push('');
    const errs = errorNotes(res);
    if (errs.length) out.push(...errs.map((e) => e.replace(/\|/g, '/')), '');
    for (const s of series) out.push(`- **${s.model}**: ${verdict(res, s)}.`);
    out.push('');
    if (sec.plot) out.push(`![${heading(res)}](${sec.plot})`, '');
  }
  if (meta.notes?.length) out.push('## Notes', '', ...meta.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}
