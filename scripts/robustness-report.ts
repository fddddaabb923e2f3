/**
 * Regenerates docs/robustness.md (+ docs/plots/*.svg, docs/robustness.json, docs/robustness.csv):
 * trains — or loads from --models — the paper-style naive LeNet5 and the service's default one, each with its own key, runs every
 * attack of the registry (and two chains) as a sweep on both, and writes the tables and plots.
 *
 *   npx tsx scripts/robustness-report.ts --quick          # minutes: 2,000 training samples, short sweeps
 *   npx tsx scripts/robustness-report.ts                  # the full report (hours on one core)
 *
 * A CIFAR-10 network's section (docs/robustness-<arch>.md, plots in docs/plots/<arch>/) from a committed
 * model folder (weights, key.json, anchor.safetensors, training.json as `weightmark train` writes them):
 *
 *   npx tsx scripts/robustness-report.ts --arch resnet32 --model models/resnet32 --finetune-limit 10000 --threads 2
 *
 * --paper DIR adds a second series beside it, 'paper': a model trained with the paper's key
 * (`weightmark train --key-kind paper`, same recipe and seed), as the LeNet5 report sets the two side by side.
 * --merge --series paper sweeps the paper model alone and puts its series first beside the ones the report
 * at --out already holds (every section, or those --attacks names), with the seeds a run of both would give
 * it (the kept series keep theirs: a report of one model drew its permutations as that model's). It stops
 * before any sweep if a kept series' unattacked accuracy or r differs from what the model scores now
 * (other weights, or scoring code that changed since), naming the sections to re-measure with both models.
 * An interrupted one resumes with --attacks naming the sections still without a paper series.
 *
 * Every attack that applies to the network runs (attack.unfit says which do not, and the report lists
 * them); the accuracy floor is the unattacked model's accuracy − 5 points (--floor F for an absolute one).
 *
 * After either, the paper's panels (e)–(j) and the summary across the three networks are drawn again
 * from the reports' JSON next to --out (docs/plots/panels/, the marked block of docs/robustness.md; see
 * scripts/paper-panels.ts), so a regenerated LeNet5 report keeps the block and a CIFAR one updates it.
 *
 * Flags: --quick, --models DIR (load naive.safetensors + key.json and default.safetensors + default.key.json if present; save
 * them there after training; default models/robustness[-quick]), --out FILE (default
 * docs/robustness.md), --plots DIR (default plots/ beside --out, plots/ARCH/ for a CIFAR network), --attacks a,b,c (names from the registry and
 * 'prune-then-fine-tune', 'hide'), --epochs N, --train-limit N, --test-limit N, --finetune-limit N,
 * --n N (key positions), --seed N, --threads N, --retrain, --floor F (accuracy that makes a stolen model
 * worth keeping; default 0.95), --merge (with --attacks: re-measure only those sections of the report
 * already at --out, keep the others from its JSON, and render the whole report again).
 *
 * The report is rewritten after every sweep (an interrupted run keeps what it measured), and a sweep whose
 * attack fails (e.g. training diverges) becomes a note instead of ending the run; the failures are kept
 * in <report>.failed.json, so a later --merge of other attacks still says why that attack has no section.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { attacks as registry, chainAttack, getAttack } from '../src/attacks/index.js';
import { attackBench } from '../src/attacks/bench.js';
import { runSweep, type SweepModel, type SweepPoint, type SweepProgress, type SweepResult } from '../src/attacks/sweep.js';
import type { Attack } from '../src/attacks/types.js';
import { getArchitecture, type Architecture } from '../src/core/architectures.js';
import { defaults } from '../src/core/config.js';
import { generateKey, keyTargetsFromParamSet, parseKey, serializeKey } from '../src/core/keygen.js';
import type { ParamSet } from '../src/core/paramSet.js';
import type { WatermarkKey } from '../src/core/watermarkKey.js';
import { defaultDatasetFor, loadDataset } from '../src/data/datasets.js';
import { loadKeyFile, loadModel } from '../src/cli/modelFiles.js';
import { readModel, writeModel } from '../src/formats/index.js';
import { renderRobustnessReport, type ReportSection } from '../src/report/markdown.js';
import { failuresOnFile, runNotes, type FailedSweep } from '../src/report/runNotes.js';
import { plotSweep } from '../src/report/plot.js';
import { failuresBeside, isPanelNetwork, panelPathsBeside, refreshPaperPanels } from '../src/report/panelFiles.js';
import { mergeSeries, mergeSweeps, parseSweeps, plotFileName, sweepToCsv, sweepToJson } from '../src/report/sweepFiles.js';
import { initParams } from '../src/core/init.js';
import { toParamSet, trainModel } from '../src/training/train.js';
import { commitmentDigest, makeCommitment, parseCommitment } from '../src/core/commitment.js';
import { policyRecord } from '../src/core/keyPlan.js';
import { committedTraining } from '../src/training/committedKey.js';

interface Args {
  quick: boolean;
  models: string;
  out: string;
  plots: string;
  attacks: string[] | null;
  epochs: number;
  trainLimit: number | undefined;
  testLimit: number | undefined;
  finetuneLimit: number | undefined;
  n: number;
  seed: number;
  threads: number;
  retrain: boolean;
  /** With --attacks: replace those sections in the report already at --out, keep the others. */
  merge: boolean;
  floor: number | { drop: number };
  /** 'lenet5': the two MNIST owner models; otherwise one committed CIFAR-10 model from --model. */
  arch: string;
  model: string | undefined;
  /** A CIFAR report's second model: the paper's key (`weightmark train --key-kind paper`), swept beside --model. */
  paper: string | undefined;
  /** With --merge: sweep only this series' model and add its series to the report's sections. */
  series: 'paper' | undefined;
}

/** A mistake in the command line: its message alone says what to change, so no stack trace is printed. */
class UsageError extends Error {}

/** Attacks aimed at the alignment (function-preserving ones, and those made to pass for drift) are scored with plain and with invariant alignment. */
function scoredTwice(attack: Attack): boolean {
  return attack.functionPreserving || attack.targetsAlignment === true;
}

/** Every attack a report on `arch` can run: the registry and the report's own chains. */
function reportAttacks(arch: Architecture): Attack[] {
  return [...registry, ...(arch.name === 'lenet5' ? extraAttacks() : graphExtras(arch))];
}

function parseArgs(argv: string[]): Args {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number | undefined): number | undefined => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} needs a non-negative integer, got '${v}'`);
    return n;
  };
  const quick = flag('quick');
  const series = value('series');
  if (series !== undefined && series !== 'paper') throw new UsageError(`--series adds the paper-style model's series to a report: --series paper, got '${series}'`);
  if (series !== undefined && (!flag('merge') || value('paper') === undefined)) throw new UsageError('--series paper adds a series to the report at --out: it needs --merge and --paper DIR');
  if (flag('merge') && value('attacks') === undefined && series === undefined) throw new UsageError('--merge re-measures some sections of an existing report: name them with --attacks a,b (or add a series to all of them with --series paper)');
  const arch = value('arch') ?? 'lenet5';
  const archSpec = (() => {
    try {
      return getArchitecture(arch);
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  })();
  const model = value('model');
  if (arch !== 'lenet5' && model === undefined) throw new UsageError(`--arch ${arch} reports on a committed model: pass --model DIR (a folder \`weightmark train\` wrote, with key.json)`);
  const paper = value('paper');
  if (paper !== undefined && arch === 'lenet5') throw new UsageError('--paper adds a paper-style model to a CIFAR report; the LeNet5 report trains its own (models/robustness/naive.safetensors)');
  if (paper !== undefined && !existsSync(join(paper, 'key.json'))) throw new UsageError(`--paper takes a model folder with its key.json (weightmark train --key-kind paper --out DIR); ${paper} has none`);
  const floorFlag = value('floor');
  const floor = floorFlag !== undefined ? Number(floorFlag) : arch === 'lenet5' ? 0.95 : { drop: 0.05 };
  if (typeof floor === 'number' && !(floor > 0 && floor <= 1)) throw new UsageError(`--floor needs an accuracy in (0, 1], got '${floorFlag}'`);
  const names = value('attacks')?.split(',').map((s) => s.trim()).filter(Boolean);
  const known = reportAttacks(archSpec).map((x) => x.name);
  const unknown = names?.filter((n) => !known.includes(n)) ?? [];
  if (unknown.length) throw new UsageError(`--attacks: unknown ${unknown.map((n) => `'${n}'`).join(', ')}; the ${arch} report knows ${known.join(', ')}`);
  const out = value('out') ?? (arch === 'lenet5' ? 'docs/robustness.md' : `docs/robustness-${arch}.md`);
  // Checked before any sweep runs: a merge that cannot happen should not cost the sweeps first.
  if (flag('merge') && !existsSync(out.replace(/\.md$/, '.json'))) throw new UsageError(`--merge needs the report's JSON at ${out.replace(/\.md$/, '.json')}; run the full report first`);
  return {
    quick,
    arch,
    model,
    paper,
    series,
    models: value('models') ?? (quick ? 'models/robustness-quick' : 'models/robustness'),
    out,
    // Beside the report: a report written elsewhere (--out /tmp/…) must not redraw the committed plots.
    plots: value('plots') ?? join(dirname(out), 'plots', ...(arch === 'lenet5' ? [] : [arch])),
    attacks: names ?? null,
    epochs: int('epochs', quick ? 2 : defaults.training.epochs)!,
    trainLimit: int('train-limit', quick ? 2000 : undefined),
    testLimit: int('test-limit', quick ? 1000 : undefined),
    finetuneLimit: int('finetune-limit', quick ? 2000 : undefined),
    n: int('n', defaults.key.n)!,
    seed: int('seed', 1)!,
    threads: int('threads', 1)!,
    retrain: flag('retrain'),
    merge: flag('merge'),
    floor,
  };
}

const log = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function loadSet(path: string, arch = 'lenet5'): ParamSet {
  const { params } = readModel([{ name: path, bytes: new Uint8Array(readFileSync(path)) }]);
  return { arch, tensors: params.tensors };
}

/**
 * The two owner models the report compares, each with its own key: `paper` — the paper's naive
 * locking as first shipped (1,024 positions uniform over all parameters, values scaled to each tensor
 * at initialisation, locked from the first step; models/robustness/naive.safetensors + key.json) — and
 * `default`, what the service makes today (a committed key, every layer above its floor, values drawn
 * from each tensor's own weights after defaults.key.embedAt of the run, again at defaults.key.redrawAt; default.safetensors +
 * default.key.json + default.commitment.json). Both: same recipe, same initialisation.
 */
async function ownerModels(a: Args): Promise<{ key: WatermarkKey; models: SweepModel[]; setup: string[] }> {
  const arch = getArchitecture('lenet5');
  const files = {
    paper: { model: join(a.models, 'naive.safetensors'), key: join(a.models, 'key.json') },
    default: { model: join(a.models, 'default.safetensors'), key: join(a.models, 'default.key.json') },
  };
  const init = toParamSet(arch, initParams(arch, a.seed));
  const setup: string[] = [];
  const models: SweepModel[] = [];
  mkdirSync(a.models, { recursive: true });
  for (const label of ['paper', 'default'] as const) {
    const f = files[label];
    const anchorFile = join(a.models, `${label}.anchor.safetensors`);
    if (!a.retrain && existsSync(f.model) && existsSync(f.key)) {
      const key = parseKey(JSON.parse(readFileSync(f.key, 'utf8')));
      models.push({ label, params: loadSet(f.model), arch, key, ...(existsSync(anchorFile) ? { anchor: loadSet(anchorFile) } : {}) });
      setup.push(`${label}: loaded \`${f.model}\` with key ${key.id} (n = ${key.values.length}, ${key.valueKind}${key.commitment ? ', committed' : ''}).`);
      continue;
    }
    log(`training the ${label} model: ${a.epochs} epochs on ${a.trainLimit ?? 'all'} MNIST samples`);
    let plan: NonNullable<Parameters<typeof trainModel>[0]['plan']> | undefined;
    let given: WatermarkKey | undefined;
    if (label === 'paper') {
      given = generateKey(keyTargetsFromParamSet(init), { n: a.n, seed: `robustness-owner-${a.seed}`, arch: arch.name, id: `robustness-${a.seed}` });
    } else {
      // An existing commitment is kept: the same positions and signal (and, training being seeded, the
      // same anchor), so the null study of docs/statistics.md still describes the committed key.
      const cFile = join(a.models, 'default.commitment.json');
      const commitment = existsSync(cFile) && !a.retrain
        ? parseCommitment(JSON.parse(readFileSync(cFile, 'utf8')))
        : makeCommitment({ owner: 'robustness-report', subject: 'models/robustness/default', arch: arch.name, n: a.n, allocation: policyRecord(defaults.key.allocation) });
      writeFileSync(cFile, JSON.stringify(commitment));
      plan = committedTraining(commitment, init, `default-${commitmentDigest(commitment).slice(0, 8)}`);
    }
    let lastLog = 0;
    const res = await trainModel({
      arch, strategy: 'naive', ...(given ? { key: given } : {}), ...(plan ? { plan } : {}), init, epochs: a.epochs, seed: a.seed, threads: a.threads,
      ...(a.trainLimit !== undefined ? { limit: a.trainLimit } : {}),
      ...(a.testLimit !== undefined ? { testLimit: a.testLimit } : {}),
      onProgress: (p) => {
        if (Date.now() - lastLog > 15000) {
          lastLog = Date.now();
          log(`  ${label} epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)} eta ${p.etaSec.toFixed(0)} s`);
        }
      },
    });
    const key = (given ?? res.key)!;
    const params: ParamSet = { arch: arch.name, tensors: res.params.tensors };
    writeFileSync(f.model, writeModel(params, 'safetensors')[0]!.bytes);
    writeFileSync(f.key, serializeKey(key));
    if (res.anchor) writeFileSync(anchorFile, writeModel(res.anchor, 'safetensors')[0]!.bytes);
    setup.push(`${label}: trained ${a.epochs} epochs on ${a.trainLimit ?? 60000} samples in ${res.seconds.toFixed(0)} s (${res.backend}, ${res.threads} thread(s)); key ${key.id}, n = ${key.values.length}.`);
    models.push({ label, params, arch, key, ...(res.anchor ? { anchor: { arch: arch.name, tensors: res.anchor.tensors } } : {}) });
  }
  return { key: models[0]!.key!, models, setup };
}

interface TrainingInfo { strategy?: string; epochs?: number; seconds?: number; testAccuracy?: number; seed?: number; warmStart?: { previous?: TrainingInfo | null } }

/** "30 epochs in 5.5 h, seed 1", with the runs a warm start (--warm-start) continued listed first. */
function describeTraining(info: TrainingInfo): string {
  const own = `${info.epochs} epoch${info.epochs === 1 ? '' : 's'} in ${((info.seconds ?? 0) / 3600).toFixed(1)} h, seed ${info.seed}`;
  const previous = info.warmStart?.previous;
  return previous?.epochs !== undefined ? `${describeTraining(previous)} (${((previous.testAccuracy ?? 0) * 100).toFixed(2)}%), then warm-restarted for ${own}` : own;
}

/** One CIFAR-10 model as `weightmark train` wrote it: weights, key.json, anchor.safetensors, training.json. */
function committedModel(a: Args): { key: WatermarkKey; models: SweepModel[]; setup: string[] } {
  // The paper-style model first, as in the LeNet5 report (paper, then what the service makes).
  const loaded = [...(a.paper ? [loadFolder(a.paper, a.arch, 'paper')] : []), loadFolder(a.model!, a.arch)];
  return { key: loaded[loaded.length - 1]!.model.key!, models: loaded.map((l) => l.model), setup: loaded.map((l) => l.setup) };
}

/**
 * One model folder as `weightmark train` writes it; labelled `label`, else 'default' when it is what the
 * service makes by default (the default strategy, a committed key) — as the LeNet5 report names that
 * series, and as the paper's naive key beside it must not be confused with — else by its strategy.
 */
function loadFolder(dir: string, archName: string, label?: string): { model: SweepModel; setup: string } {
  const arch = getArchitecture(archName);
  const params = { ...loadModel(dir, arch.name).params, arch: arch.name };
  const key = loadKeyFile(join(dir, 'key.json'));
  const anchorFile = join(dir, 'anchor.safetensors');
  const info = existsSync(join(dir, 'training.json')) ? (JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8')) as TrainingInfo) : {};
  const name = label ?? (info.strategy === defaults.training.strategy && key.commitment ? 'default' : info.strategy ?? 'model');
  const trained = info.epochs !== undefined ? `; trained ${describeTraining(info)}, ${((info.testAccuracy ?? 0) * 100).toFixed(2)}% at the end of training` : '';
  return {
    model: { label: name, params, arch, key, source: dir, ...(existsSync(anchorFile) ? { anchor: loadSet(anchorFile, arch.name) } : {}) },
    setup: `${name}: loaded \`${dir}\` (${arch.name}${trained}) with key ${key.id} (n = ${key.values.length}, ${key.valueKind}${key.commitment ? ', committed' : ''}).`,
  };
}

/**
 * The chains a CIFAR network's report adds: pruning then fine-tuning, and hiding by function-preserving
 * moves. The fine-tuning after pruning is at lr 0.01: at 0.1 fine-tuning alone leaves ResNet-32 and
 * ALL-CNN-C far below their floor (docs/robustness-resnet32.md), so that chain showed nothing.
 */
function graphExtras(arch: Architecture): Attack[] {
  const pruneThenTune = chainAttack('prune-then-fine-tune-low-lr', [
    { attack: getAttack('prune-global'), strength: 0.9 },
    { attack: getAttack('fine-tune-low-lr'), strength: 1 },
  ], 1, 'global pruning (90%) → fine-tuning at lr 0.01');
  const dummy = getAttack('dummy');
  const hide = chainAttack('hide', [
    ...(dummy.unfit?.(arch) ? [] : [{ attack: dummy, strength: 0.25 }]),
    { attack: getAttack('permute'), strength: 1 },
    { attack: getAttack('rescale'), strength: 4 },
  ], dummy.unfit?.(arch) ? 1 : 2, `${dummy.unfit?.(arch) ? '' : 'dummy neurons (25%) → '}permutation → rescaling`);
  const both = getAttack('rescale-both');
  return [
    { ...pruneThenTune, strength: { ...pruneThenTune.strength, defaults: [1, 2] } },
    hide,
    ...(both.unfit?.(arch) ? [] : [bothThenTune()]),
  ];
}

/**
 * Both-sides rescaling (drift-like, breaks the function) swept over its factor, then fine-tuning to
 * train the function back: what is left of the mark once accuracy is repaired. The rate is the one that
 * repaired LeNet5 at every factor (3 epochs at lr 0.001; measured: at lr 0.1 ×2 ended at 11% accuracy,
 * at 0.01 and 0.003 ×10 diverged).
 */
function bothThenTune(): Attack {
  const chain = chainAttack('rescale-both-then-fine-tune', [
    { attack: getAttack('rescale-both'), strength: 4 },
    { attack: getAttack('fine-tune-low-lr'), strength: 3, options: { lr: 0.001 } },
  ], 0, 'rescaling both sides → fine-tuning at lr 0.001 (3 epochs)');
  return { ...chain, strength: { ...chain.strength, defaults: [2, 4, 10], quick: [4] } };
}

function extraAttacks(): Attack[] {
  const pruneThenTune = chainAttack('prune-then-fine-tune', [
    { attack: getAttack('prune-global'), strength: 0.9 },
    { attack: getAttack('fine-tune'), strength: 1 },
  ], 1, 'global pruning (90%) → fine-tuning');
  // The three truncated-SVD settings an outside tester used (issue 8), as one sweep over settings 1..3.
  const svdSettings = ['fc1=15,conv2=15,fc2=8', 'fc1=10,conv2=15,fc2=8', 'fc1=10,conv2=10,fc2=5'];
  const lowRank = getAttack('low-rank');
  const svdOutside: Attack = {
    ...lowRank, name: 'low-rank-outside', title: 'truncated SVD at the outside tester\'s ranks',
    description: `Truncated SVD per layer at the ranks of the outside test (issue 8): setting 1 = ${svdSettings[0]}, 2 = ${svdSettings[1]}, 3 = ${svdSettings[2]}; conv1 untouched.`,
    strength: { name: 'setting', unit: '#', defaults: [1, 2, 3], quick: [1, 3] },
    run: (set, arch, k, ctx) => lowRank.run(set, arch, 15, { ...ctx, options: { ranks: svdSettings[k - 1]! } }),
  };
  const svdThenTune = chainAttack('low-rank-then-fine-tune', [
    { attack: lowRank, strength: 15, options: { ranks: svdSettings[0]! } },
    { attack: getAttack('fine-tune'), strength: 1 },
  ], 1, 'truncated SVD (fc1 15, conv2 15, fc2 8) → fine-tuning at lr 0.1');
  const reinitThenTune = chainAttack('reinit-classifier-then-fine-tune', [
    { attack: getAttack('reinit-classifier'), strength: 1 },
    { attack: getAttack('fine-tune'), strength: 1 },
  ], 1, 're-initialised fc1 + fc2 (1 epoch, conv frozen) → fine-tuning everything at lr 0.1');
  return [
    svdOutside,
    { ...svdThenTune, strength: { ...svdThenTune.strength, defaults: [1, 2] } },
    { ...reinitThenTune, strength: { ...reinitThenTune.strength, defaults: [1, 2] } },
    // Not cumulative (each point prunes afresh), so fewer epochs than the plain fine-tuning sweep.
    { ...pruneThenTune, strength: { ...pruneThenTune.strength, defaults: [1, 2] } },
    chainAttack('hide', [
      { attack: getAttack('dummy'), strength: 0.25 },
      { attack: getAttack('permute'), strength: 1 },
      { attack: getAttack('rescale'), strength: 4 },
    ], 2, 'dummy neurons (25%) → permutation → rescaling'),
    bothThenTune(),
  ];
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const arch = getArchitecture(a.arch);
  const { key, models, setup } = a.arch === 'lenet5' ? await ownerModels(a) : committedModel(a);
  const dataset = defaultDatasetFor(arch.inputShape);
  const dataName = dataset === 'cifar10' ? 'CIFAR-10' : 'MNIST';
  const test = loadDataset(dataset, 'test', a.testLimit !== undefined ? { limit: a.testLimit } : {});
  const bench = attackBench({ key, testData: test, threads: a.threads, ...(a.finetuneLimit !== undefined ? { dataLimit: a.finetuneLimit } : {}) });
  const { scorer, evaluate, context } = bench;
  const fashion = (() => {
    try {
      loadDataset('fashion-mnist', 'test', { limit: 1 });
      return true;
    } catch {
      return false;
    }
  })();

  const all = reportAttacks(arch);
  const notes: string[] = [];
  const wholeReport = !a.attacks || a.merge;
  const fitting = all.filter((x) => {
    const why = x.unfit?.(arch);
    if (why && wholeReport) notes.push(`'${x.name}' does not apply to ${arch.name}: ${why}.`);
    return !why;
  });
  // Two names for one attack on this network (reinit-classifier is reinit-head on ALL-CNN-C): measured once, as the twin.
  const twinOf = (x: Attack): string | undefined => {
    const twin = x.sameAs?.(arch);
    return twin !== undefined && fitting.some((y) => y.name === twin) ? twin : undefined;
  };
  for (const x of fitting) {
    const twin = twinOf(x);
    if (twin && wholeReport) notes.push(`'${x.name}' is the same attack as '${twin}' on ${arch.name} (the same layers re-initialised and frozen, the same training and seeds): a full report measures it once, as '${twin}'.`);
  }
  const asked = a.attacks ? a.attacks.map((n) => all.find((x) => x.name === n)!) : fitting;
  const chosen = asked.filter((x) => {
    const twin = twinOf(x);
    if (twin && !a.attacks) return false;
    if (twin) log(`'${x.name}' is the same attack as '${twin}' on ${arch.name}; measuring it anyway, as asked`);
    return true;
  });
  const baselines: Record<'plain' | 'invariant', Record<string, SweepPoint>> = { plain: {}, invariant: {} };
  for (const m of models) {
    const accuracy = await evaluate(m.params, m.arch);
    for (const mode of ['plain', 'invariant'] as const) {
      const s = await scorer(m.params, m.arch, m, { invariant: mode === 'invariant' });
      baselines[mode][m.label] = { strength: 0, accuracy, r: s.r, n: s.n, pValue: s.pValue, log10p: s.log10p, ber: s.ber ?? null, decision: s.decision, seconds: 0 };
    }
    setup.push(`${m.label}: test accuracy ${(accuracy * 100).toFixed(2)}% on ${test.n} ${dataName} test images (ONNX Runtime), r = ${baselines.plain[m.label]!.r.toFixed(4)} unattacked.`);
  }

  // --series: the other models' series stay as the report holds them, so they must still be what these models score.
  const swept = a.series ? models.filter((m) => m.label === a.series) : models;
  // Read once, before any sweep: the report on disk is rewritten after every sweep, and merging into that
  // again would add this run's sweep times to a section once per write (a --series run did: 1.5 h read 9.2 h).
  const previous = a.merge ? parseSweeps(readFileSync(a.out.replace(/\.md$/, '.json'), 'utf8')) : [];
  const rename = a.series ? keptSeries(a, previous, models, baselines) : {};
  // A kept series was just checked to start from its model's current score: it is that model's, so it may name the folder.
  const sources = Object.fromEntries(models.flatMap((m) => (m.source !== undefined ? [[m.label, m.source]] : [])));

  const sections: ReportSection[] = [];
  const results: SweepResult[] = [];
  const failed: FailedSweep[] = [];
  const failuresFile = a.out.replace(/\.md$/, '.failed.json');
  const planned = chosen.reduce((n, x) => n + (scoredTwice(x) ? 2 : 1), 0);
  const command = `npx tsx scripts/robustness-report.ts ${process.argv.slice(2).join(' ')}`.trim();
  // The report is written after every sweep, so an interrupted or crashed run keeps what it measured
  // (with --merge, the earlier sections stay too); a sweep whose attack fails is a note, not the end of the run.
  const write = (final: boolean): void => {
    const report = { results: [...results], sections: [...sections] };
    const kept = a.merge ? mergeIntoPrevious(a, previous, report.results, report.sections, all, rename, sources) : 0;
    const onFile = failuresOnFile(a.merge ? failuresBeside(failuresFile) : [], results, failed, command, a.series ? { swept: a.series, kept: models.filter((m) => m.label !== a.series).map((m) => m.label) } : undefined);
    if (onFile.length) writeFileSync(failuresFile, `${JSON.stringify(onFile, null, 2)}\n`);
    else rmSync(failuresFile, { force: true });
    // failuresOnFile lists the earlier runs' first, this run's last.
    const earlierFailed = onFile.slice(0, onFile.length - failed.length);
    const md = renderRobustnessReport(report.sections, {
      ...(a.arch === 'lenet5' ? {} : { title: `Robustness of the watermark: ${arch.name} on CIFAR-10` }),
      command,
      generatedAt: new Date().toISOString(),
      setup: [...setup, `Decision: p-value below the false-positive rate ${defaults.score.fpr} (one-sided Student t on Pearson r).`, `${a.merge ? 'Time of this re-measurement' : 'Total time'} ${((Date.now() - t0) / 1000).toFixed(0)} s.`],
      notes: runNotes({
        notes, failed, earlierFailed, results: report.results, measured: results, planned, final, quick: a.quick, method: methodNotes(a, test.n),
        ...(a.merge ? { merge: { kept, json: a.out.replace(/\.md$/, '.json'), ...(a.series ? { series: a.series } : {}) } } : {}),
      }),
    });
    mkdirSync(dirname(a.out), { recursive: true });
    writeFileSync(a.out, md);
    writeFileSync(a.out.replace(/\.md$/, '.json'), sweepToJson(report.results));
    writeFileSync(a.out.replace(/\.md$/, '.csv'), sweepToCsv(report.results));
    // Every section's plot from the report's own sweeps: after a --series merge a section holds the kept
    // series and the fresh one, and a plot of this run's result alone would show only the fresh one.
    for (const { result } of report.sections) writeFileSync(join(a.plots, plotFileName(result)), plotSweep(result));
    refreshPanels(a);
  };
  mkdirSync(a.plots, { recursive: true });
  // Said in every whole report (a --merge too), not only when asked for: the section is missing either way.
  const noFashion = `'fine-tune-fashion' not measured here: Fashion-MNIST not found (install Debian's dataset-fashion-mnist).`;
  if (!fashion && (wholeReport || chosen.some((x) => x.name === 'fine-tune-fashion')) && fitting.some((x) => x.name === 'fine-tune-fashion')) notes.push(noFashion);
  const sweeps = chosen
    .filter((attack) => attack.name !== 'fine-tune-fashion' || fashion)
    .flatMap((attack) => (scoredTwice(attack) ? [false, true] : [false]).map((invariant) => ({ attack, invariant })));
  // The last sweep's report is the final one, written once after the loop (with its panels).
  const writeUnlessLast = (i: number): void => {
    if (i < sweeps.length - 1) write(false);
  };
  for (const [i, { attack, invariant }] of sweeps.entries()) {
    const strengths = a.quick ? attack.strength.quick : attack.strength.defaults;
    const label = `${attack.name}${invariant ? ' (invariant)' : ''}`;
    log(`sweep ${label}: ${strengths.join(', ')}`);
    let result: SweepResult;
    try {
      result = await runSweep({
        attack,
        strengths,
        models: swept,
        scorer,
        evaluate,
        invariant,
        accuracyFloor: a.floor,
        seed: a.seed,
        context,
        baselines: baselines[invariant ? 'invariant' : 'plain'],
        onProgress: (p: SweepProgress) =>
          p.point && p.strength !== null && log(`  ${p.model} @ ${p.strength}: accuracy ${(p.point.accuracy * 100).toFixed(2)}%, r ${p.point.r.toFixed(3)}, ${p.point.decision} (${p.done}/${p.total})`),
      });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      log(`  ${label} failed: ${why}`);
      failed.push({ label, name: attack.name, invariant, title: attack.title, why, ...(a.series ? { series: a.series } : {}) });
      writeUnlessLast(i);
      continue;
    }
    results.push(result);
    sections.push({ result, plot: relative(dirname(a.out), join(a.plots, plotFileName(result))), description: attack.description });
    writeUnlessLast(i);
  }
  await bench.dispose();
  write(true);
  log(`wrote ${a.out}, ${results.length} plots in ${a.plots}${failed.length ? `, ${failed.length} sweep(s) failed` : ''} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

/** What every report says about how it measured. */
function methodNotes(a: Args, testImages: number): string[] {
  const outside = join('docs', 'experiments', `outside-attack-${a.arch}.md`);
  return [
    a.arch === 'lenet5'
      ? 'Accuracy is measured on the MNIST test set through ONNX Runtime (also after fine-tuning on Fashion-MNIST, where it shows how far the model was repurposed).'
      : `Accuracy is measured on the first ${testImages} CIFAR-10 test images through ONNX Runtime; training attacks train on CIFAR-10's training images with the pad-crop-flip augmentation${a.finetuneLimit !== undefined ? ` (the first ${a.finetuneLimit} per epoch)` : ''}.`,
    'Function-preserving attacks (permutation, rescaling, dummy neurons and the "hide" chain) and the both-sides rescaling made to pass for drift are scored twice: with plain alignment (names and layouts only) and with invariant alignment, which undoes permutations, per-unit rescaling and dummy units against the owner\'s anchor (its weights from just before the key draw; the model itself when it has none). The anchor keeps the null exact but costs r on long runs, where the network drifted from it after the draw: see docs/statistics.md, "The alignment anchor".',
    'Training attacks continue from the previous strength (epochs add up); the optimizer state restarts at each point.',
    'Quantization: min-max uniform k-bit (2^k levels from min to max of each tensor or output channel; biases and batch-norm tensors per tensor, harsher than a deployment quantizer, which leaves them in float or int32). int8-ort mirrors onnxruntime quantize_dynamic defaults (QInt8, symmetric per tensor, [-127, 127], zero point 0, kernels only).',
    ...(existsSync(outside)
      ? [`The same kinds of attack made with PyTorch's own optimisers, pruning and quantizers, shipped as an eval-mode torch.onnx export (batch norm folded), scored by \`weightmark extract\`: [${relative(dirname(a.out), outside)}](${relative(dirname(a.out), outside)}) (\`/usr/bin/python3 scripts/outside_attack_cifar.py --arch ${a.arch}\`).`]
      : []),
  ];
}

/**
 * --series: the report's other series keep their measurements, so each must be of a model loaded now and
 * start from what that model scores now (its baseline, per alignment). Returns the renaming of a
 * previous series label to its model's current one (a report made before the committed series was
 * called 'default' says 'naive'). @throws UsageError naming the sections whose kept series disagree.
 */
function keptSeries(a: Args, previous: readonly SweepResult[], models: readonly SweepModel[], baselines: Record<'plain' | 'invariant', Record<string, SweepPoint>>): Record<string, string> {
  const current = models.filter((m) => m.label !== a.series).map((m) => m.label);
  const before = [...new Set(previous.flatMap((r) => r.series.map((s) => s.model)).filter((l) => l !== a.series))];
  const rename: Record<string, string> = before.length === 1 && current.length === 1 && before[0] !== current[0] ? { [before[0]!]: current[0]! } : {};
  const stale: string[] = [];
  for (const r of previous) {
    for (const s of r.series) {
      const label = rename[s.model] ?? s.model;
      if (label === a.series) continue;
      const now = baselines[r.invariant ? 'invariant' : 'plain'][label];
      if (!now) throw new UsageError(`--series: ${a.out}'s series '${s.model}' is of no model loaded now (${current.join(', ')}); re-run the whole report with both models`);
      if (Math.abs(now.accuracy - s.baseline.accuracy) > 1e-9 || Math.abs(now.r - s.baseline.r) > 1e-6) {
        stale.push(`${r.attack.name}${r.invariant ? ' (invariant)' : ''}: r ${s.baseline.r.toFixed(4)} → ${now.r.toFixed(4)}, accuracy ${(s.baseline.accuracy * 100).toFixed(2)}% → ${(now.accuracy * 100).toFixed(2)}%`);
      }
    }
  }
  if (stale.length) {
    throw new UsageError(`--series: the '${current.join(', ')}' series of ${stale.length} section(s) of ${a.out} start from another unattacked score than the model has now, so the two series would not be comparable; re-measure them with both models (--merge --paper DIR --attacks …, no --series): ${stale.join('; ')}`);
  }
  return rename;
}

/**
 * --merge: the previous report's results with this run's in place of the sections it re-measured (same
 * attack and alignment), in the previous order; new ones at the end. `results` and `sections` become
 * the whole report. Returns how many sections came from the previous run.
 */
function mergeIntoPrevious(a: Args, previous: readonly SweepResult[], results: SweepResult[], sections: ReportSection[], known: readonly Attack[], rename: Readonly<Record<string, string>>, sources: Readonly<Record<string, string>>): number {
  const { merged, kept } = a.series ? mergeSeries(previous, results, rename, sources) : mergeSweeps(previous, results);
  results.splice(0, results.length, ...merged);
  sections.splice(0, sections.length, ...merged.map((result) => ({
    result,
    plot: relative(dirname(a.out), join(a.plots, plotFileName(result))),
    description: known.find((x) => x.name === result.attack.name)?.description,
  })));
  return kept;
}

/**
 * The paper's panels follow every report: LeNet5's markdown was just written without the block, a CIFAR
 * network's JSON changed what its panels and summary column show (scripts/paper-panels.ts does the same alone).
 */
function refreshPanels(a: Args): void {
  if (!isPanelNetwork(a.arch)) return;
  const paths = panelPathsBeside(a.out, a.arch);
  if (!existsSync(paths.markdown)) {
    log(`paper panels not refreshed: no ${paths.markdown} (the LeNet5 report) beside ${a.out}`);
    return;
  }
  const written = refreshPaperPanels(paths);
  log(`paper panels: ${written.length} plots in ${paths.plots}, block refreshed in ${paths.markdown}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof UsageError ? `robustness-report: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
