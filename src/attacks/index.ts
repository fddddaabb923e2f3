/**
 * The attack registry: every attack an adversary might use to erase a weight watermark, with its
 * strength parameter (name, unit, default sweep) and what it needs. `getAttack(name)` throws with the
 * list of known names.
 */
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import { normsUnfit, reestimateNorms } from './bnReestimate.js';
import { fineTune, otherDatasetUnfit, overwrite } from './finetune.js';
import { lowRank, parseRanks } from './lowRank.js';
import { addGaussianNoise } from './noise.js';
import { pruneMagnitude } from './prune.js';
import { float16RoundTrip, int8Dynamic, quantizeUniform } from './quantize.js';
import { boolOption, choiceOption, numOption } from './options.js';
import { reinitRetrain, sameReinit } from './reinit.js';
import type { Attack, AttackContext, AttackResult, StrengthSpec } from './types.js';
import { addDummyUnits, permuteUnits, rescaleUnits, rescaleUnitsBothSides, unitChainUnfit } from './units.js';

/** A string option, or undefined. @throws naming the option when it is given as another type. */
function textOption(ctx: AttackContext, name: string, example: string): string | undefined {
  const v = ctx.options?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`option ${name} must be text like ${example}, got ${JSON.stringify(v)}`);
  return v;
}

/** low-rank's options: layers "fc1,conv2" and ranks "fc1=15,conv2=15,fc2=8". */
function lowRankOptions(ctx: AttackContext): { layers?: string[]; ranks?: Record<string, number> } {
  const layersText = textOption(ctx, 'layers', '"fc1,conv2"');
  const ranksText = textOption(ctx, 'ranks', '"fc1=15,conv2=15,fc2=8"');
  const layers = layersText?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (layers && layers.length === 0) throw new Error('option layers names no layer; give e.g. layers=fc1,conv2');
  return { ...(layers ? { layers } : {}), ...(ranksText !== undefined ? { ranks: parseRanks(ranksText) } : {}) };
}

function pure(
  name: string,
  title: string,
  description: string,
  strength: StrengthSpec,
  flags: { functionPreserving?: boolean; targetsAlignment?: boolean; changesShape?: boolean; unfit?: (arch: Architecture) => string | undefined },
  fn: (set: ParamSet, arch: Architecture, s: number, ctx: AttackContext) => ParamSet | AttackResult,
): Attack {
  return {
    name,
    title,
    description,
    strength,
    needsData: false,
    changesShape: flags.changesShape ?? false,
    functionPreserving: flags.functionPreserving ?? false,
    ...(flags.targetsAlignment ? { targetsAlignment: true } : {}),
    cumulative: false,
    ...(flags.unfit ? { unfit: flags.unfit } : {}),
    async run(set, arch, s, ctx) {
      ctx.signal?.throwIfAborted();
      const out = fn(set, arch, s, ctx);
      return 'tensors' in out ? { set: out, arch } : out;
    },
  };
}

const bits: StrengthSpec = { name: 'bits', unit: 'bits', defaults: [8, 7, 6, 5, 4, 3, 2], quick: [8, 4, 2], decreasing: true };
const fractionPruned: StrengthSpec = { name: 'fraction pruned', unit: '%', defaults: [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99], quick: [0.5, 0.9, 0.99] };
const epochs: StrengthSpec = { name: 'epochs', unit: 'epochs', defaults: [1, 2, 3, 5], quick: [1] };
const rankKept: StrengthSpec = { name: 'rank kept', unit: 'rank', defaults: [50, 30, 20, 15, 10, 8, 5, 3], quick: [20, 10, 5], decreasing: true };
const retrainEpochs: StrengthSpec = { name: 'epochs', unit: 'epochs', defaults: [1, 2, 3], quick: [1] };
const single: StrengthSpec = { name: 'applied', unit: '', defaults: [1], quick: [1] };

export const attacks: readonly Attack[] = [
  pure('quantize', 'k-bit quantization per tensor', 'Uniform k-bit quantization per tensor (min-max: 2^k levels from min to max; option mode=symmetric), every tensor: biases, and batch norm\'s scale, shift and running statistics, too.', bits, {}, (set, _a, s, ctx) =>
    quantizeUniform(set, s, { mode: choiceOption(ctx, 'mode', ['minmax', 'symmetric'], 'minmax'), granularity: 'tensor' })),
  pure('quantize-channel', 'k-bit quantization per output channel', 'Uniform k-bit quantization per output channel of each kernel (min-max); every other tensor (biases, batch norm\'s scale, shift and running statistics) per tensor.', bits, {}, (set, _a, s, ctx) =>
    quantizeUniform(set, s, { mode: choiceOption(ctx, 'mode', ['minmax', 'symmetric'], 'minmax'), granularity: 'channel' })),
  pure('float16', 'float16 round trip', 'Every tensor to IEEE half precision and back.', single, {}, (set) => float16RoundTrip(set)),
  pure('int8-ort', 'ONNX Runtime dynamic int8', 'quantize_dynamic defaults: kernels per tensor, symmetric int8 in [-127, 127], zero point 0; biases float.', single, {}, (set, _a, _s, ctx) =>
    int8Dynamic(set, { weightType: choiceOption(ctx, 'weightType', ['int8', 'uint8'], 'int8'), perChannel: boolOption(ctx, 'perChannel', false) })),
  pure('prune', 'magnitude pruning per layer', 'The smallest |w| of each kernel set to zero.', fractionPruned, {}, (set, _a, s) => pruneMagnitude(set, s, 'layer')),
  pure('prune-global', 'global magnitude pruning', 'The smallest |w| over all kernels together set to zero.', fractionPruned, {}, (set, _a, s) => pruneMagnitude(set, s, 'global')),
  pure('noise', 'Gaussian noise', 'w + N(0, (s · std of the tensor)²) on every tensor.', { name: 'σ / tensor std', unit: '×std', defaults: [0.01, 0.03, 0.1, 0.3, 0.5, 1], quick: [0.1, 0.5] }, {}, (set, _a, s, ctx) =>
    addGaussianNoise(set, s, ctx.seed)),
  pure('permute', 'neuron permutation', 'A random subset of the units of every hidden layer permuted, the next layer\'s inputs permuted to match (function unchanged).', { name: 'fraction of units moved', unit: '%', defaults: [0, 0.1, 0.25, 0.5, 1], quick: [0, 1] }, { functionPreserving: true }, (set, arch, s, ctx) =>
    permuteUnits(set, arch, s, ctx.seed)),
  pure('rescale', 'ReLU rescaling', 'Unit j of every hidden layer: incoming weights and bias × c_j, outgoing × 1/c_j, c_j log-uniform in [1/s, s]; on networks with batch norm, each conv channel × c_j and the norm after it absorbs c_j (function unchanged).', { name: 'max factor', unit: '×', defaults: [1, 1.5, 2, 4, 10], quick: [1, 4] }, { functionPreserving: true }, (set, arch, s, ctx) =>
    rescaleUnits(set, arch, s, ctx.seed)),
  pure('rescale-both', 'rescaling both sides (drift-like)', 'Unit j of every hidden layer: incoming weights, bias and outgoing weights all × c_j, c_j log-uniform in [1/s, s]. '
    + 'Not function-preserving (the unit\'s share of the next layer\'s input × c_j²; an attacker would fine-tune afterwards): it moves a unit\'s two sides together, as the owner\'s own training drift does, which the invariant alignment leaves in place instead of undoing. Networks without batch norm.',
  { name: 'max factor', unit: '×', defaults: [1, 1.5, 2, 4, 10], quick: [1, 4] }, { targetsAlignment: true, unfit: (arch) => {
    const why = unitChainUnfit(arch);
    // With batch norm the alignment takes a unit's scale from its incoming side alone: the plain 'rescale' is the attack there.
    return why && `it needs a network without batch norm or residual sums (there 'rescale' is the one to try): ${why}`;
  } }, (set, arch, s, ctx) =>
    rescaleUnitsBothSides(set, arch, s, ctx.seed)),
  pure('dummy', 'dummy neurons', 'Every hidden layer widened by a fraction of random units with zero outgoing weights (function unchanged, shapes change).', { name: 'added units / layer width', unit: '%', defaults: [0, 0.1, 0.25, 0.5, 1], quick: [0, 0.5] }, { functionPreserving: true, changesShape: true, unfit: unitChainUnfit }, (set, arch, s, ctx) =>
    addDummyUnits(set, arch, s, ctx.seed)),
  pure('low-rank', 'low-rank compression (truncated SVD)',
    'Every kernel replaced by its best rank-k approximation (truncated SVD), k = the strength per layer (min with the full rank); no data, no training; biases untouched. '
    + 'A conv kernel is the matrix [out, in·kh·kw] (PyTorch\'s OIHW flattened; its rank differs under other groupings), a dense one [out, in]. '
    + 'Options: layers (e.g. "fc1,conv2"; default every kernel, or the layers named in ranks), ranks (e.g. "fc1=15,conv2=15,fc2=8": per-layer ranks overriding the strength).',
    rankKept, {}, (set, arch, s, ctx) => lowRank(set, arch, s, lowRankOptions(ctx)).set),
  {
    name: 'reinit-head',
    title: 'head re-initialised, retrained alone',
    description: 'Transfer learning: the output layer re-initialised (the architecture\'s initialiser, seeded) and retrained for the strength in epochs with every other layer frozen '
      + '(SGD lr 0.01, momentum 0.9, no weight decay; constant rate). Options: layers (e.g. "fc1,fc2": the last k layers), freeze (rest | features | none | a list of layers), lr, momentum, weightDecay. '
      + 'Not cumulative: the re-initialisation happens once, at the start of every point. '
      + 'Batch norm\'s running statistics follow the training batches in every layer, frozen ones included (as PyTorch\'s train mode does), so on ResNet-32 the features\' statistics are re-estimated too.',
    strength: retrainEpochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: false,
    run: (set, arch, s, ctx) => reinitRetrain(set, arch, s, ctx, { target: 'head', freeze: 'rest' }, 'reinit-head'),
  },
  {
    name: 'reinit-classifier',
    title: 'classifier re-initialised, retrained on frozen features',
    description: 'Transfer learning: the classifier — every layer with parameters after the flatten or global pool (fc1 and fc2 in LeNet5, fc in ResNet-32; the output 1x1 conv in ALL-CNN-C, whose classifier is convolutional) — re-initialised and retrained for the strength in epochs with the features before it frozen '
      + '(SGD lr 0.01, momentum 0.9, no weight decay; constant rate). Same options as reinit-head; freeze defaults to features. In an mlp every layer is re-initialised (training from scratch). Not cumulative; batch-norm statistics as in reinit-head.',
    strength: retrainEpochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: false,
    run: (set, arch, s, ctx) => reinitRetrain(set, arch, s, ctx, { target: 'classifier', freeze: 'features' }, 'reinit-classifier'),
    sameAs: (arch) => (sameReinit(arch, { target: 'classifier', freeze: 'features' }, { target: 'head', freeze: 'rest' }) ? 'reinit-head' : undefined),
  },
  {
    name: 'reinit-hidden',
    title: 'last hidden layer re-initialised, all fine-tuned',
    description: 'The last hidden layer (the last conv or dense before the output: fc1 in LeNet5, the last block\'s conv2 in ResNet-32, conv8 in ALL-CNN-C) re-initialised and the whole network fine-tuned for the strength in epochs '
      + '(SGD lr 0.01, momentum 0.9, no weight decay; constant rate). Same options as reinit-head; freeze defaults to none. Not cumulative.',
    strength: retrainEpochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: false,
    run: (set, arch, s, ctx) => reinitRetrain(set, arch, s, ctx, { target: 'last-hidden', freeze: 'none' }, 'reinit-hidden'),
  },
  {
    name: 'bn-reestimate',
    title: 'batch-norm statistics re-estimated',
    description: 'Every batch norm\'s running mean and variance recomputed from the attacker\'s images (the task\'s training images, augmented), weights untouched: '
      + 'what recalibrating a deployed model for new data does. Strength: batches of 100 images (old statistics weigh 0.9^k after k). Networks with batch norm only.',
    strength: { name: 'batches of 100', unit: 'batches', defaults: [1, 3, 10, 30, 100], quick: [1, 10] },
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: false,
    run: (set, arch, s, ctx) => reestimateNorms(set, arch, s, ctx),
    unfit: normsUnfit,
  },
  {
    name: 'fine-tune',
    title: 'fine-tuning at lr 0.1',
    description: 'All parameters trained on the task\'s own data (MNIST; CIFAR-10 with pad-crop-flip for the CIFAR networks) (SGD lr 0.1, momentum 0.9, weight decay 5e-4 unless overridden).',
    strength: epochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: true,
    run: (set, arch, s, ctx) => fineTune(set, arch, s, ctx),
  },
  {
    name: 'fine-tune-low-lr',
    title: 'fine-tuning at lr 0.01',
    description: 'All parameters trained on the task\'s own data at the gentler rate a licensee adapting the model would use (SGD lr 0.01, momentum 0.9, weight decay 5e-4).',
    strength: epochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: true,
    run: (set, arch, s, ctx) => fineTune(set, arch, s, ctx, { lr: numOption(ctx, 'lr', 0.01) }),
  },
  {
    name: 'fine-tune-fashion',
    title: 'fine-tuning on Fashion-MNIST',
    description: 'The model repurposed: all parameters trained on Fashion-MNIST (SGD lr 0.01, momentum 0.9); accuracy is still measured on MNIST. MNIST-sized networks only.',
    strength: epochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: true,
    run: (set, arch, s, ctx) => fineTune(set, arch, s, ctx, { dataset: 'fashion-mnist', lr: numOption(ctx, 'lr', 0.01) }),
    unfit: (arch) => otherDatasetUnfit('fashion-mnist', arch),
  },
  {
    name: 'overwrite',
    title: 'overwriting with the attacker\'s key',
    description: 'The attacker generates its own random key and embeds it with the naive strategy (SGD lr 0.1, momentum 0.9).',
    strength: epochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: true,
    run: (set, arch, s, ctx) => overwrite(set, arch, s, ctx),
  },
  {
    name: 'overwrite-low-lr',
    title: 'overwriting with the attacker\'s key at lr 0.01',
    description: 'The attacker\'s own random key embedded with the naive strategy at the rate that keeps a CIFAR network\'s accuracy (SGD lr 0.01, momentum 0.9): '
      + 'at lr 0.1 fine-tuning alone costs ResNet-32 and ALL-CNN-C most of their accuracy, and overwriting ALL-CNN-C diverges.',
    strength: epochs,
    needsData: true,
    changesShape: false,
    functionPreserving: false,
    cumulative: true,
    run: (set, arch, s, ctx) => overwrite(set, arch, s, { ...ctx, options: { lr: 0.01, ...ctx.options } }),
  },
];

/** What the registry offers, as data: `weightmark attack --list` and GET /v1/attacks. */
export function attackCatalogue() {
  return attacks.map((a) => ({
    name: a.name, title: a.title, description: a.description,
    strength: { name: a.strength.name, unit: a.strength.unit, defaults: [...a.strength.defaults], quick: [...a.strength.quick] },
    needsData: a.needsData, functionPreserving: a.functionPreserving, changesShape: a.changesShape,
  }));
}

export function attackNames(): string[] {
  return attacks.map((a) => a.name);
}

/** @throws Error naming the unknown attack and the known ones. */
export function getAttack(name: string): Attack {
  const a = attacks.find((x) => x.name === name);
  if (!a) throw new Error(`Unknown attack '${name}'. Known attacks are: ${attackNames().join(', ')}.`);
  return a;
}

export type { Attack, AttackContext, AttackResult, StrengthSpec } from './types.js';
export { quantizeUniform, float16RoundTrip, int8Dynamic } from './quantize.js';
export { pruneMagnitude } from './prune.js';
export { addGaussianNoise } from './noise.js';
export { permuteUnits, rescaleUnits, rescaleUnitsBothSides, addDummyUnits, remapUnits, hiddenLinks } from './units.js';
export { fineTune, overwrite } from './finetune.js';
export { runChain, chainAttack, type ChainStep } from './chain.js';
export { lowRank, parseRanks, kernelMatrix, type LowRankOptions, type LowRankLayer } from './lowRank.js';
export { reinitRetrain, planReinit, paramLayers, featureLayers, type ReinitDefaults, type ReinitPlan, type FreezeMode } from './reinit.js';
export { buildChain, parseChainText, parseOptionsText, formatChain, checkOptions, MAX_CHAIN_STEPS, type ChainStepSpec, type BuiltChain, type AttackOptions, type AttackOptionValue } from './chainSpec.js';
