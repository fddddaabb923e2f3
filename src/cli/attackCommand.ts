/**
 * `weightmark attack`: one attack of the registry on a watermarked model, scored with the owner's key —
 * once at a strength (the attacked model can be written), or as a sweep over strengths (sweep.json,
 * sweep.csv, sweep.svg) on one model or two (e.g. the naive and the delve model of the same key).
 * Accuracy is measured through ONNX Runtime on the model's own data (cli/modelData.ts: the dataset file
 * or built-in its training.json names, or --data/--dataset), which training attacks also train on; the score is
 * what `weightmark extract` and the service's verification say (the better of as read and invariant; or, with
 * --alignment, one of them alone): onto --anchor, else the anchor.safetensors beside the key (no inflation), or onto
 * --reference (t inflated), else the model itself.
 * `--chain` runs several attacks one after the other as one (src/attacks/chainSpec.ts: the step whose
 * strength is left out, else the last, is the one --strength/--sweep set); `--options k=v` passes
 * attack options (low-rank's ranks, reinit's layers/freeze, lr, …) to the attack or to every step.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { attackBench, type AttackBench } from '../attacks/bench.js';
import { buildChain, parseChainText, parseOptionsText, type AttackOptionValue, type BuiltChain, type ChainStepSpec } from '../attacks/chainSpec.js';
import { attackCatalogue, getAttack } from '../attacks/index.js';
import { measurePoint, runSweep, type SweepModel, type SweepPoint, type SweepResult } from '../attacks/sweep.js';
import type { Attack } from '../attacks/types.js';
import { architectureNames, getArchitecture } from '../core/architectures.js';
import { loadKeyFile, loadReference } from './modelFiles.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { modelData, type ModelData } from './modelData.js';
import { readModel } from '../formats/index.js';
import { saveTfjsModel } from '../formats/tfjsFiles.js';
import { plotSweep } from '../report/plot.js';
import { sweepToCsv, sweepToJson } from '../report/sweepFiles.js';
import { alignmentChoice, num, parse, required, type AlignmentChoice } from './args.js';
import { interruptSignal } from './interrupt.js';
import { readModelPath } from './modelFiles.js';
import { ProgressBar } from './progress.js';

const usage = `weightmark attack --model DIR_OR_FILE --key FILE (--attack NAME | --chain STEPS) (--strength X | --sweep [X,Y,Z|quick])
  [--options k=v ...] [--anchor FILE | --reference DIR_OR_FILE] [--compare DIR_OR_FILE --label A --label2 B] [--alignment both|as-read|invariant] [--arch NAME]
  [--dataset mnist|fashion-mnist|cifar10 | --data FILE [--labels FILE] [--holdout 0.1]]
  [--test-limit N] [--finetune-limit N] [--threads N] [--seed N] [--floor 0.95 | -0.05] [--out DIR] [--json]
weightmark attack --list [--json]

  --strength X   attack once; with --out, write the attacked model there (TensorFlow.js)
  --sweep        the attack's default strengths (quick: its short sweep; or a list X,Y,Z);
                 with --out, write sweep.json, sweep.csv and sweep.svg there
  --chain        attacks one after the other, e.g. "low-rank:15,fine-tune:1" or
                 "low-rank:15[ranks=fc1=15,conv2=15,fc2=8],reinit-head:1"; step NAME[:STRENGTH][[k=v;k=v]];
                 --strength/--sweep set the step without a strength, else the last; with neither, the
                 chain runs once as written
  --options      attack options k=v (repeatable; pairs also separated by ';'), e.g. ranks=fc1=15,fc2=8,
                 layers=fc1, freeze=none, lr=0.01; with --chain they apply to every step
  --anchor       the owner's weights from before the key was drawn, which the invariant alignment aligns onto
                 with no variance inflation, as the service does (default: anchor.safetensors beside --key);
                 each copy is scored as a verification scores it: as read and invariant, the better kept
  --alignment    both (default; as verification), as-read (names and layouts only; --no-invariant says the
                 same) or invariant (that pass alone, as the robustness report's invariant columns)
  --reference    another model to align onto instead (t inflated as for a model aligned onto itself); with
                 neither and no anchor beside the key, --model itself
  --compare      a second model with the same key (its own reference: anchor.safetensors in its folder, else
                 itself), e.g. naive vs delve
  --data         the model's own dataset file (as for train --data): accuracy on its held-out split, training
                 attacks on the rest. Default: what the model folder's training.json records (the dataset
                 file, checked against its digest, or the built-in), else the built-in the input fits
  --floor        default 0.95 on MNIST; on other data 5 points under the unattacked accuracy (-0.05)`;

const opts = {
  model: { type: 'string' }, key: { type: 'string' }, attack: { type: 'string' }, strength: { type: 'string' }, sweep: { type: 'string' },
  reference: { type: 'string' }, anchor: { type: 'string' }, compare: { type: 'string' }, label: { type: 'string' }, label2: { type: 'string' },
  'no-invariant': { type: 'boolean' }, alignment: { type: 'string' }, arch: { type: 'string' }, 'test-limit': { type: 'string' }, 'finetune-limit': { type: 'string' },
  threads: { type: 'string' }, seed: { type: 'string' }, floor: { type: 'string' }, out: { type: 'string' }, list: { type: 'boolean' },
  chain: { type: 'string' }, options: { type: 'string', multiple: true },
  dataset: { type: 'string' }, data: { type: 'string' }, labels: { type: 'string' }, holdout: { type: 'string' },
} as const;

/** Every --options value merged (a later name wins). @throws naming the pair that is not name=value. */
function parseCliOptions(values: readonly string[] | undefined): Record<string, AttackOptionValue> | undefined {
  if (!values || values.length === 0) return undefined;
  return Object.assign({}, ...values.map((v) => parseOptionsText(v))) as Record<string, AttackOptionValue>;
}

/** A bare `--sweep` (last, or followed by another flag) means the attack's default strengths. */
function bareSweep(argv: string[]): string[] {
  return argv.map((a, i) => (a === '--sweep' && (i + 1 === argv.length || argv[i + 1]!.startsWith('--')) ? '--sweep=' : a));
}

function defaultLabel(path: string): string {
  return basename(resolve(path)).replace(/\.(safetensors|onnx|npz|npy|pt|pth|json|bin)$/i, '');
}

/**
 * An anchor is the owner's weights from before the key was drawn: aligning onto it needs no variance
 * inflation (docs/statistics.md), so it is read as `anchor`; any other --reference as `reference`.
 */
function loadModel(path: string, label: string, key: WatermarkKey, archFlag: string | undefined, onto: { reference?: string; anchor?: string }): SweepModel {
  const { params } = readModel(readModelPath(path));
  const archName = archFlag ?? params.arch ?? key.arch;
  if (!archName) throw new Error(`Cannot tell the architecture of ${path}: neither the model nor the key names one; pass --arch (supported: ${architectureNames().join(', ')})`);
  const arch = getArchitecture(archName);
  const reference = onto.reference ? loadReference(onto.reference, key, arch.name) : undefined;
  const anchor = onto.anchor ? loadReference(onto.anchor, key, arch.name) : undefined;
  return { label, params: { ...params, arch: arch.name }, arch, ...(reference ? { reference } : {}), ...(anchor ? { anchor } : {}) };
}

/** The anchor.safetensors in `dir`, when there is one. */
function anchorOnto(dir: string): { anchor?: string } {
  const f = join(dir, 'anchor.safetensors');
  return existsSync(f) ? { anchor: f } : {};
}

function alignedOnto(m: SweepModel): 'anchor' | 'reference' | 'model' {
  return m.anchor ? 'anchor' : m.reference ? 'reference' : 'model';
}

function describeAlignment(models: readonly SweepModel[], alignment: AlignmentChoice): string {
  const onto = [...new Set(models.map(alignedOnto))];
  const text = { anchor: 'the anchor (weights from before the key was drawn)', reference: 'the --reference model', model: 'the model itself' };
  const where = onto.map((o) => text[o]).join(' / ');
  return { both: `scored as verification: the better of as read and invariant alignment onto ${where}`, 'as-read': `as read only, onto ${where}`, invariant: `invariant alignment alone, onto ${where}` }[alignment];
}

function parseStrengths(value: string, attack: Attack): number[] {
  if (value === '' || value === 'default') return [...attack.strength.defaults];
  if (value === 'quick') return [...attack.strength.quick];
  return value.split(',').map((s) => num(s.trim(), 'sweep', NaN));
}

function describeStrength(attack: Attack, s: number): string {
  return `${attack.strength.name} = ${s}`;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '?';
}

/** From log10 p, so p-values below float range (strong marks) still print. */
function pValue(log10p: number): string {
  if (!Number.isFinite(log10p)) return '?';
  const e = Math.floor(log10p);
  return `${(10 ** (log10p - e)).toFixed(1)}e${e}`;
}

function pointCells(p: SweepPoint): string[] {
  return [pct(p.accuracy), Number.isFinite(p.r) ? p.r.toFixed(4) : 'n/a', pValue(p.log10p), p.decision.toUpperCase()];
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => '  ' + r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

function listAttacks(json: boolean | undefined): number {
  const rows = attackCatalogue();
  if (json) console.log(JSON.stringify(rows));
  else {
    console.log(table([
      ['attack', 'strength (unit)', 'default strengths', 'needs data', 'function-preserving'],
      ...rows.map((r) => [r.name, `${r.strength.name}${r.strength.unit ? ` (${r.strength.unit})` : ''}`, r.strength.defaults.join(', '), r.needsData ? 'yes' : 'no', r.functionPreserving ? 'yes' : 'no']),
    ]));
  }
  return 0;
}

function withAttackName<T>(attack: Attack, what: string, fn: () => Promise<T>): Promise<T> {
  return fn().catch((e: unknown) => {
    if (e instanceof Error && e.name !== 'AbortError') e.message = `attack '${attack.name}' ${what}: ${e.message}`;
    throw e;
  });
}

interface RunSetup {
  readonly attack: Attack;
  readonly models: readonly SweepModel[];
  readonly bench: AttackBench;
  readonly alignment: AlignmentChoice;
  /** The sweep's flag: off for as-read only. */
  readonly invariant: boolean;
  readonly seed: number;
  readonly out: string | undefined;
  readonly json: boolean;
  readonly signal: AbortSignal;
  /** Attack options (--options), for the attack or every step of a chain. */
  readonly options: Record<string, AttackOptionValue> | undefined;
  /** The chain's steps as given (--chain), for the output. */
  readonly chain: readonly ChainStepSpec[] | undefined;
  /** What accuracy is measured on, for the output. */
  readonly evaluatedOn: ModelData['evaluatedOn'];
}

function describeData(e: ModelData['evaluatedOn']): string {
  return e.split === 'held-out' ? `the held-out split of ${e.data} (${e.samples} images)` : `the ${e.dataset} test set (${e.samples} images)`;
}

async function attackOnce(s: RunSetup, strength: number): Promise<void> {
  const { attack, bench, invariant } = s;
  const results = [];
  for (const [i, model] of s.models.entries()) {
    const measure = { scorer: bench.scorer, evaluate: bench.evaluate, invariant };
    const before = await measurePoint(model.params, model.arch, 0, model, measure);
    const started = Date.now();
    const attacked = await withAttackName(attack, `at ${describeStrength(attack, strength)}`, () =>
      attack.run(model.params, model.arch, strength, { ...bench.context, ...(s.options ? { options: s.options } : {}), seed: s.seed * 1000003 + i * 7, signal: s.signal }));
    const after = await measurePoint(attacked.set, attacked.arch, strength, model, measure, started);
    let written: string | undefined;
    if (s.out) {
      written = s.models.length > 1 ? join(s.out, model.label) : s.out;
      if (existsSync(join(written, 'model.json'))) throw new Error(`${written} already holds a model; choose another --out`);
      saveTfjsModel(written, attacked.set, attacked.arch);
    }
    const arch = attacked.arch.name === model.arch.name ? model.arch.name : `${model.arch.name} → ${attacked.arch.name}`;
    results.push({ label: model.label, arch, alignedOnto: alignedOnto(model), before, after, ...(written ? { out: written } : {}) });
  }
  if (s.json) {
    const extra = { ...(s.chain ? { chain: s.chain } : {}), ...(s.options ? { options: s.options } : {}) };
    console.log(JSON.stringify({ attack: attack.name, strength, ...extra, invariant, alignment: s.alignment, evaluatedOn: s.evaluatedOn, models: results }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
    return;
  }
  console.log(`Attack '${attack.name}' (${attack.title}) at ${describeStrength(attack, strength)}; ${describeAlignment(s.models, s.alignment)}; accuracy on ${describeData(s.evaluatedOn)}`);
  for (const r of results) {
    console.log(`${r.label} (${r.arch}):`);
    console.log(table([['', 'accuracy', 'r', 'p', 'decision'], ['before', ...pointCells(r.before)], ['after', ...pointCells(r.after)]]));
    if (r.after.error) console.log(`  score: ${r.after.error}`);
    if (r.out) console.log(`  attacked model written to ${r.out}/ (TensorFlow.js)`);
  }
}

function sweepTable(result: SweepResult): string {
  const head = [result.attack.strengthName, ...result.series.flatMap((s) => [`${s.model} accuracy`, 'r', 'p', 'decision'])];
  const rows = [head, ['unattacked', ...result.series.flatMap((s) => pointCells(s.baseline))]];
  const n = result.series[0]?.points.length ?? 0;
  for (let i = 0; i < n; i++) rows.push([String(result.series[0]!.points[i]!.strength), ...result.series.flatMap((s) => pointCells(s.points[i]!))]);
  return table(rows);
}

async function sweep(s: RunSetup, strengths: number[], floor: number | { readonly drop: number }): Promise<void> {
  const { attack, bench } = s;
  const bar = new ProgressBar();
  let result: SweepResult;
  try {
    result = await withAttackName(attack, 'sweep', () => runSweep({
      attack, strengths, models: s.models, scorer: bench.scorer, evaluate: bench.evaluate, invariant: s.invariant, accuracyFloor: floor,
      seed: s.seed, context: { ...bench.context, ...(s.options ? { options: s.options } : {}) }, signal: s.signal,
      onProgress: (p) => bar.update(p.done / p.total, `${p.model} @ ${p.strength ?? 'unattacked'}${p.point ? `: accuracy ${pct(p.point.accuracy)}, r ${p.point.r.toFixed(3)}` : ''}`),
    }));
  } finally {
    bar.done();
  }
  const files: string[] = [];
  if (s.out) {
    mkdirSync(s.out, { recursive: true });
    for (const [name, text] of [['sweep.json', sweepToJson(result)], ['sweep.csv', sweepToCsv(result)], ['sweep.svg', plotSweep(result)]] as const) {
      writeFileSync(join(s.out, name), text);
      files.push(join(s.out, name));
    }
  }
  if (s.json) {
    const onto = Object.fromEntries(s.models.map((m) => [m.label, alignedOnto(m)]));
    console.log(JSON.stringify({ files, evaluatedOn: s.evaluatedOn, alignment: s.alignment, alignedOnto: onto, result: JSON.parse(sweepToJson(result)) as unknown }));
    return;
  }
  const threshold = result.rThreshold !== null ? `; match when r ≥ ${result.rThreshold.toFixed(4)}` : '';
  console.log(`Sweep of '${attack.name}' (${attack.title}) over ${attack.strength.name}: ${strengths.join(', ')}; ${describeAlignment(s.models, s.alignment)}${threshold}; accuracy on ${describeData(s.evaluatedOn)}`);
  console.log(sweepTable(result));
  for (const series of result.series) {
    const f = series.firstFailure;
    const where = f ? `detection first fails at ${describeStrength(attack, f.strength)} (accuracy ${pct(f.accuracy)})` : 'detected at every strength';
    const level = series.accuracyFloor;
    const accurate = series.points.some((p) => p.accuracy >= level);
    const bar = `${pct(level)}${typeof floor === 'number' ? '' : ` (unattacked − ${(floor.drop * 100).toFixed(0)} points)`}`;
    const floorNote = !accurate ? `no strength keeps accuracy ≥ ${bar}` : series.detectedWhereAccurate ? `detected wherever accuracy ≥ ${bar}` : `NOT detected at some strength with accuracy ≥ ${bar}`;
    console.log(`${series.model}: ${where}; ${floorNote}`);
  }
  if (files.length) console.log(`Wrote ${files.join(', ')}`);
}

export async function runAttack(argv: string[]): Promise<number> {
  const a = parse(bareSweep(argv), opts);
  if (a.help) {
    console.log(usage);
    return 0;
  }
  if (a.list) return listAttacks(a.json);
  if (a.attack !== undefined && a.chain !== undefined) throw new Error('Give --attack NAME (one attack) or --chain STEPS (several in a row), not both');
  if (a.attack === undefined && a.chain === undefined) throw new Error('--attack NAME or --chain STEPS is required (weightmark attack --list shows the attacks)');
  const chain: BuiltChain | undefined = a.chain !== undefined ? buildChain(parseChainText(a.chain)) : undefined;
  const attack = chain ? chain.attack : getAttack(a.attack!);
  const options = parseCliOptions(a.options);
  if (a.strength !== undefined && a.sweep !== undefined) throw new Error('Give either --strength X (one attack) or --sweep [X,Y,Z] (a sweep), not both');
  let strengths: number[];
  if (a.sweep !== undefined) strengths = parseStrengths(a.sweep, attack);
  else if (a.strength !== undefined) strengths = [num(a.strength, 'strength', NaN)];
  else if (chain?.strength !== undefined) strengths = [chain.strength];
  else if (chain) {
    const step = chain.specs[chain.sweepStep]!;
    throw new Error(`Chain step ${chain.sweepStep + 1} (${step.attack}) has no strength: write it (${step.attack}:X), or give --strength X or --sweep [X,Y,Z] (${attack.strength.name}; default sweep ${attack.strength.defaults.join(', ')})`);
  } else {
    throw new Error(`Give --strength X or --sweep [X,Y,Z] for '${attack.name}' (${attack.strength.name}${attack.strength.unit ? `, ${attack.strength.unit}` : ''}; default sweep ${attack.strength.defaults.join(', ')})`);
  }
  const alignment = alignmentChoice(a);
  const keyPath = required(a.key, 'key');
  const key = loadKeyFile(keyPath);
  const modelPath = required(a.model, 'model');
  if (a.reference !== undefined && a.anchor !== undefined) throw new Error('Give --anchor FILE (the weights from before the key was drawn) or --reference MODEL, not both');
  const onto = a.reference !== undefined ? { reference: a.reference } : a.anchor !== undefined ? { anchor: a.anchor } : anchorOnto(dirname(keyPath));
  const models = [loadModel(modelPath, a.label ?? defaultLabel(modelPath), key, a.arch, onto)];
  if (a.compare) {
    let label2 = a.label2 ?? defaultLabel(a.compare);
    if (label2 === models[0]!.label) label2 = `${label2} (2)`;
    const compareDir = existsSync(a.compare) && statSync(a.compare).isDirectory() ? a.compare : undefined;
    models.push(loadModel(a.compare, label2, key, a.arch, compareDir ? anchorOnto(compareDir) : {}));
  } else if (a.label2) throw new Error('--label2 names the --compare model; give --compare DIR too');
  // Before any data is loaded: the service refuses the same way (WM_ERR_ATTACK_UNFIT).
  const unfit = attack.unfit?.(models[0]!.arch);
  if (unfit) throw new Error(`'${attack.name}' cannot run on ${models[0]!.arch.name}: ${unfit}`);
  const testLimit = a['test-limit'] !== undefined ? num(a['test-limit'], 'test-limit', 0, true) : undefined;
  const finetuneLimit = a['finetune-limit'] !== undefined ? num(a['finetune-limit'], 'finetune-limit', 0, true) : undefined;
  const own = modelData(models[0]!.arch, modelPath, {
    ...(a.dataset !== undefined ? { dataset: a.dataset } : {}), ...(a.data !== undefined ? { data: a.data } : {}), ...(a.labels !== undefined ? { labels: a.labels } : {}),
    ...(a.holdout !== undefined ? { holdout: num(a.holdout, 'holdout', 0.1) } : {}),
  }, testLimit);
  // MNIST's bar is absolute (95%); elsewhere it is relative, 5 points under the unattacked model, as accuracies there start lower.
  const floorValue = num(a.floor, 'floor', own.dataset === 'mnist' ? 0.95 : -0.05);
  if (!(floorValue > -1 && floorValue <= 1 && floorValue !== 0)) throw new Error(`--floor needs an accuracy in (0, 1], or a drop from the unattacked accuracy as a negative number (-0.05 = 5 points), got '${a.floor}'`);
  const floor = floorValue > 0 ? floorValue : { drop: -floorValue };
  const bench = attackBench({
    key,
    testData: own.test,
    dataset: own.dataset,
    ...(own.data ? { data: own.data } : {}),
    threads: num(a.threads, 'threads', 1, true),
    asVerification: alignment !== 'invariant',
    ...(finetuneLimit !== undefined ? { dataLimit: finetuneLimit } : {}),
  });
  const { signal, release } = interruptSignal();
  const setup: RunSetup = {
    attack, models, bench, alignment, invariant: alignment !== 'as-read', seed: num(a.seed, 'seed', 1, true), out: a.out, json: a.json ?? false, signal, evaluatedOn: own.evaluatedOn,
    options, chain: chain?.specs,
  };
  try {
    if (a.sweep !== undefined) await sweep(setup, strengths, floor);
    else await attackOnce(setup, strengths[0]!);
    return 0;
  } catch (err) {
    if (signal.aborted) {
      console.error('Attack cancelled; nothing more was written.');
      return 130;
    }
    throw err;
  } finally {
    release();
    await bench.dispose();
  }
}
