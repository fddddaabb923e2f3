/**
 * What the API commands print for a person (without --json): the point of each response in a few lines.
 * A signed document (JWS) is never dumped into a summary: it is a file to keep or a field of --json.
 */

type Json = Record<string, unknown>;

const obj = (x: unknown): Json | undefined => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Json) : undefined);
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
const numOr = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const percent = (x: unknown): string => (numOr(x) === undefined ? '–' : `${(Number(x) * 100).toFixed(2)}%`);

/** A p-value as the service means it: at the floor it is a bound ("< 1e-38"), never a figure made of rounding. */
function pText(p: unknown, atFloor: unknown): string {
  const v = numOr(p);
  if (v === undefined) return 'p unknown';
  if (atFloor === true) return `p < ${v.toExponential(0)}`;
  return v >= 1e-3 ? `p = ${v.toFixed(3)}` : `p = ${v.toExponential(2)}`;
}

/**
 * A verification in a few lines: decision, claim and evidence; the leak's licensee with its release and
 * model; the score of the best key (only for the roles whose response carries the report); where to get
 * the rest. Everything the response holds stays available with --json.
 */
export function describeVerification(v: Json): string {
  const report = obj(v.report);
  const best = obj(report?.best);
  // The evidence is the p-value against the service's false-positive rate ("p < 1e-06").
  const lines = [`${String(v.id)}: ${String(v.decision).toUpperCase()} — claim: ${String(v.claim)}, evidence: ${String(v.evidence)}`];
  if (v.leakedBy) {
    // The best key may be the owner's (both marks survive in a release): the release is the matching licensee key's.
    const leaked = (Array.isArray(report?.candidates) ? (report!.candidates as Json[]) : []).find((c) => c.licensee === v.leakedBy && c.decision === 'match');
    const where = [leaked?.releaseId ? `release ${String(leaked.releaseId)}` : '', v.modelId ? `model ${String(v.modelId)}` : ''].filter(Boolean).join(', ');
    lines.push(`  leaked by: ${String(v.leakedBy)}${where ? ` (${where})` : ''}`);
  } else if (v.modelId) lines.push(`  model: ${String(v.modelId)}`);
  if (best) {
    const label = v.decision === 'match' ? 'score' : 'closest key';
    lines.push(`  ${label}: r = ${numOr(best.r)?.toFixed(4) ?? '–'} over ${String(best.n)} key positions, ${pText(best.pValue, best.atFloor)} (${best.kind ? `${String(best.kind)} ` : ''}key ${String(best.keyId)}, alignment ${String(best.alignment)})`);
  }
  if (str(report?.conclusion)) lines.push(`  ${String(report!.conclusion)}`);
  lines.push(`  all of it: weightmark verification ${String(v.id)} --json; the signed ${report ? 'report' : 'verdict'}: weightmark report ${String(v.id)} --out FILE.jws`);
  return lines.join('\n');
}

/** One row per model and strength of an attack sweep (`result.sweep` of an attack job), baseline first. */
export function describeSweep(sweep: Json): string[] {
  const attack = obj(sweep.attack) ?? {};
  const unit = str(attack.unit) ?? '';
  const strength = (s: unknown): string => (unit === '%' && numOr(s) !== undefined ? `${Number((Number(s) * 100).toPrecision(6))}%` : `${String(s)}${unit && unit !== '%' ? ` ${unit}` : ''}`);
  const rows: string[][] = [['model', String(attack.strengthName ?? 'strength'), 'accuracy', 'r', 'decision']];
  for (const s of (Array.isArray(sweep.series) ? sweep.series : []) as Json[]) {
    const point = (label: string, p: Json) => rows.push([String(s.model), label, percent(p.accuracy), numOr(p.r)?.toFixed(4) ?? 'no score', String(p.decision ?? (p.error ? 'error' : '–'))]);
    if (obj(s.baseline)) point('none', obj(s.baseline)!);
    for (const p of (Array.isArray(s.points) ? s.points : []) as Json[]) point(strength(p.strength), p);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return [`${String(attack.title ?? attack.name ?? 'attack')}${sweep.invariant ? ' (invariant alignment)' : ''}`, ...rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}`)];
}

/** A job: id, kind and status; its result in one line (or the sweep as a table, and where its plot is); its error; its progress while it runs. */
export function describeJob(j: Json): string {
  const lines = [`${String(j.id)}: ${String(j.kind)} ${String(j.status)}${j.createdBy ? ` (by ${String(j.createdBy)}, ${String(j.createdAt)})` : ''}`];
  const progress = obj(j.progress);
  if (progress && (j.status === 'running' || j.status === 'queued')) lines.push(`  progress: ${percent(progress.fraction)} ${String(progress.phase ?? '')}`.trimEnd());
  const result = obj(j.result);
  const sweep = obj(result?.sweep);
  if (sweep) {
    lines.push(...describeSweep(sweep).map((l) => `  ${l}`));
    const on = obj(result!.evaluatedOn);
    if (on) lines.push(`  accuracy on: ${on.split === 'held-out' ? `the held-out split of dataset ${String(on.datasetId)}` : `the ${String(on.dataset)} test set`} (${String(on.samples)} images)`);
    if (result!.alignedOnto) lines.push(`  scored as verification scores it, aligned onto ${result!.alignedOnto === 'anchor' ? 'the anchor (weights from before the key was drawn)' : 'the model'}`);
    lines.push(`  plot: weightmark plot ${String(j.id)} --out sweep.svg (GET ${str(result!.plot) ?? `/v1/jobs/${String(j.id)}/plot.svg`})`);
  } else if (result) {
    lines.push(`  result: ${Object.entries(result).map(([k, x]) => `${k} ${k === 'testAccuracy' ? percent(x) : typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join(', ')}`);
  }
  if (j.error) lines.push(`  error: ${String(j.error)}`);
  return lines.join('\n');
}

/** What --quiet prints for a job: what a succeeded job made — a training job its model, a release job its release — else the job itself. */
export function idMadeBy(job: Json): unknown {
  const result = job.status === 'succeeded' ? obj(job.result) : undefined;
  return (job.kind === 'train' ? result?.modelId : job.kind === 'release' ? result?.releaseId : undefined) ?? job.id;
}

/** A release (or the release and job a `release` command just started). */
export function describeRelease(r: Json): string {
  const release = obj(r.release) ?? r;
  const job = obj(r.job);
  const parts = [`${String(release.id)}: release of ${String(release.modelId)} to ${String(release.licensee)}, ${String(release.status)}`];
  if (release.releaseModelId) parts.push(`  model ${String(release.releaseModelId)}, key ${String(release.keyId)}`);
  if (job) parts.push(`  job ${String(job.id)} ${String(job.status)} (weightmark watch ${String(job.id)})`);
  if (release.error) parts.push(`  error: ${String(release.error)}`);
  return parts.join('\n');
}

/** `key: value` lines for any other response; signed documents (…Jws) are named, not dumped. */
export function describeFields(v: Json): string {
  return Object.entries(v)
    .filter(([k]) => k !== 'report' && k !== 'candidates')
    .map(([k, x]) => {
      if (/jws$/i.test(k) && typeof x === 'string') return `${k}: (signed, ${x.length} characters; --json prints it)`;
      return `${k}: ${typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x)}`;
    })
    .join('\n');
}

/** One line per item of a list response. */
export function summaryLine(item: Json): string {
  const keys = ['seq', 'id', 'status', 'kind', 'name', 'action', 'actor', 'target', 'licensee', 'decision', 'pValue', 'createdAt', 'ts'];
  return keys.filter((k) => item[k] !== undefined && item[k] !== null).map((k) => `${k}=${String(item[k])}`).join('  ');
}

/** A list response (items, with total or a next cursor) as one line per item. */
export function describeList(v: Json & { items: unknown[] }): string {
  const lines = v.items.length === 0 ? ['(none)'] : (v.items as Json[]).map(summaryLine);
  if (v.total !== undefined) lines.push(`(${v.items.length} of ${String(v.total)})`);
  else if (v.next !== undefined && v.next !== null) lines.push(`(more: --after ${String(v.next)})`);
  return lines.join('\n');
}
