/**
 * The notes a robustness report run writes under its tables. The report is rewritten after every sweep,
 * so these say how far the run got, which sweeps failed (and whether an older measurement of that
 * attack is still shown), and, for a --merge, which sections this command measured.
 */
import type { SweepResult } from '../attacks/sweep.js';
import { sweepsWith } from './sweepFiles.js';

export interface FailedSweep {
  /** e.g. "permute (invariant)". */
  readonly label: string;
  readonly name: string;
  readonly invariant: boolean;
  readonly title: string;
  /** The attack's error message. */
  readonly why: string;
  /** The command whose sweep failed, when it was an earlier run's (kept by --merge). */
  readonly command?: string;
  /** The one series the failed run swept (robustness-report --series); absent when it swept every model. */
  readonly series?: string;
}

/**
 * The failures a report keeps on file (beside its JSON) after a run: the earlier ones whose attack and
 * alignment this run neither measured nor saw fail again for the same models, then this run's, stamped
 * with its command (and its series, for a --series run). A --merge would otherwise drop the only record
 * of why an attack has no section (ALL-CNN-C's overwrite at lr 0.1 diverges: no model to score). A
 * --series run sweeps one model (`series.swept`) and keeps the others' series (`series.kept`): an earlier
 * failure of every model becomes, from then on, a failure of each kept one.
 */
export function failuresOnFile(earlier: readonly FailedSweep[], measured: readonly SweepResult[], failedNow: readonly FailedSweep[], command: string, series?: { readonly swept: string; readonly kept: readonly string[] }): FailedSweep[] {
  const same = (a: { name: string; invariant: boolean }, b: { name: string; invariant: boolean }) => a.name === b.name && a.invariant === b.invariant;
  const attempted = (f: FailedSweep) => measured.some((r) => same({ name: r.attack.name, invariant: r.invariant }, f)) || failedNow.some((g) => same(g, f));
  const before = series ? earlier.flatMap((f) => (f.series !== undefined || !attempted(f) ? [f] : series.kept.map((kept) => ({ ...f, series: kept })))) : earlier;
  // A run of every model re-measures every series; a --series run only its own.
  const redone = (f: FailedSweep) => (series === undefined || f.series === series.swept) && attempted(f);
  return [...before.filter((f) => !redone(f)), ...failedNow.map((f) => ({ ...f, command, ...(series ? { series: series.swept } : {}) }))];
}

/**
 * A report's failed sweeps as kept beside its JSON (`<report>.failed.json`).
 * @throws when the text is not such a list; `source` names it in the message.
 */
export function parseFailures(text: string, source: string): FailedSweep[] {
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list) || !list.every((f) => typeof f?.name === 'string' && typeof f?.why === 'string' && typeof f?.invariant === 'boolean')) {
    throw new Error(`${source} is not a list of failed sweeps ({ name, invariant, title, why, command })`);
  }
  return list as FailedSweep[];
}

export interface RunNotesInput {
  /** Notes gathered before the sweeps (attacks that do not apply, attacks measured as their twin, skipped ones). */
  readonly notes: readonly string[];
  readonly failed: readonly FailedSweep[];
  /** Earlier runs' failures still on file (failuresOnFile), for attacks this command did not run. */
  readonly earlierFailed?: readonly FailedSweep[];
  /** Every section the report now holds (with --merge: the previous run's and this one's). */
  readonly results: readonly SweepResult[];
  /** Sweeps this command measured so far. */
  readonly measured: readonly SweepResult[];
  /** Sweeps this command set out to run. */
  readonly planned: number;
  /** False while sweeps remain. */
  readonly final: boolean;
  readonly quick?: boolean;
  /** With --merge: how many sections came from the previous report (unused with --series), and its JSON; with --series, the series this command added. */
  readonly merge?: { readonly kept: number; readonly json: string; readonly series?: string };
  /** How the report measured (always last). */
  readonly method: readonly string[];
}

const sweepLabel = (r: { attack: { name: string }; invariant: boolean }) => `'${r.attack.name}${r.invariant ? ' (invariant)' : ''}'`;

export function runNotes(i: RunNotesInput): string[] {
  const out = [...i.notes];
  if (i.merge?.series) {
    const added = i.measured.map(sweepLabel).join(', ') || 'none';
    // Counted from the merged sections, not from what this command skipped: an earlier --series run may have given them the series.
    const series = i.merge.series;
    const lacking = i.results.length - sweepsWith(i.results, series);
    out.push(`The '${series}' series was measured by this command and set beside the sections' other series, which are an earlier run's (read from ${i.merge.json}; the command that measured them is in the file's git history; their unattacked scores were checked to be what the model scores now): ${added}.${lacking ? ` ${lacking} section(s) have no '${series}' series yet.` : ''}`);
  } else if (i.merge) {
    const remeasured = i.measured.map(sweepLabel).join(', ') || 'none';
    out.push(`Sections re-measured by this command: ${remeasured}; the ${i.merge.kept} others are the previous run's, read from ${i.merge.json} (the command that measured them is in the file's git history).`);
  }
  // A failure of one series (--series) is shown only if that series is in the section; its other series are no measurement of it.
  const shown = (f: FailedSweep) => i.results.some((r) => r.attack.name === f.name && r.invariant === f.invariant && (f.series === undefined || r.series.some((s) => s.model === f.series)));
  const whose = (f: FailedSweep) => (f.series !== undefined ? `the '${f.series}' series' sweep` : 'its sweep');
  out.push(
    ...(i.earlierFailed ?? []).map((f) => `'${f.label}' (${f.title}): ${whose(f)} failed in an earlier run${f.command ? ` (\`${f.command}\`)` : ''} — ${f.why}${shown(f) ? '; its section below is from a run before that' : ''}.`),
    ...i.failed.map((f) => `'${f.label}' (${f.title}): this command's ${f.series !== undefined ? `'${f.series}' series' sweep` : 'sweep'} failed — ${f.why}${shown(f) ? '; its section below is the previous run\'s' : ''}.`),
    ...i.method,
  );
  if (i.quick) out.unshift('**Quick run**: small training set and short sweeps — numbers show the shape of the results, not the paper-scale measurements.');
  if (!i.final) out.unshift(`**Incomplete**: ${i.measured.length + i.failed.length} of the ${i.planned} sweeps of this command ran so far; the report is rewritten after each.`);
  return out;
}
