/**
 * Attacks that need data and training, all through the injected trainer (`ctx.train`, the shape of
 * `trainModel` in src/training/train.ts), starting from the attacked weights (`init`):
 * - fine-tuning on the owner's task, every parameter free (strategy 'none');
 * - fine-tuning on another dataset (Fashion-MNIST): the model is repurposed, same architecture;
 * - overwriting: the attacker embeds its own random key with the naive strategy.
 * Strength is epochs. Defaults follow the attack that eroded a scale-matched mark most while keeping
 * accuracy in ../shared FINDINGS §2 (SGD lr 0.1, momentum 0.9, weight decay 5e-4); options override them:
 * { lr, momentum, weightDecay, n (overwriting: positions in the attacker's key) }.
 */
import type { Architecture } from '../core/architectures.js';
import { datasetNames, datasetShapes, type DatasetName } from '../data/datasets.js';
import type { ParamSet } from '../core/paramSet.js';
import { numOption, ownDataset } from './options.js';
import type { AttackContext, AttackResult } from './types.js';

export interface FineTuneOptions {
  /** Default: the task's own dataset, the one the architecture's input fits. */
  readonly dataset?: DatasetName;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
}

function needTrainer(ctx: AttackContext, attack: string): NonNullable<AttackContext['train']> {
  if (!ctx.train) throw new Error(`attack '${attack}' needs data and a trainer; pass ctx.train (trainModel)`);
  return ctx.train;
}

function copy(set: ParamSet): ParamSet {
  return { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) })) };
}

/** Why `arch` cannot be fine-tuned on `dataset` (another task's image shape), or undefined. */
export function otherDatasetUnfit(dataset: DatasetName, arch: Architecture): string | undefined {
  // Another dataset (Fashion-MNIST) repurposes an MNIST-sized network; a network of another task's images (CIFAR-10) cannot read it.
  const own = datasetNames.find((d) => datasetShapes[d].join('x') === arch.inputShape.join('x'));
  return own && datasetShapes[dataset].join('x') !== datasetShapes[own].join('x')
    ? `fine-tuning on ${dataset} needs ${datasetShapes[dataset].join('x')} inputs; ${arch.name} takes ${arch.inputShape.join('x')} (${own})`
    : undefined;
}

/** Fine-tunes every parameter for `epochs` epochs. epochs 0 returns a copy. */
export async function fineTune(set: ParamSet, arch: Architecture, epochs: number, ctx: AttackContext, opts: FineTuneOptions = {}): Promise<AttackResult> {
  if (!(epochs >= 0)) throw new Error(`fine-tuning epochs must be ≥ 0, got ${epochs}`);
  // Another dataset (fine-tune-fashion) must fit the network's input; its own data does by construction.
  const unfit = opts.dataset && otherDatasetUnfit(opts.dataset, arch);
  if (unfit) throw new Error(unfit);
  const dataset = opts.dataset ?? ownDataset(ctx, arch);
  if (epochs === 0) return { set: copy(set), arch };
  const train = needTrainer(ctx, 'fine-tune');
  const res = await train({
    arch,
    dataset,
    strategy: 'none',
    init: set,
    epochs,
    lr: opts.lr ?? numOption(ctx, 'lr', 0.1),
    momentum: opts.momentum ?? numOption(ctx, 'momentum', 0.9),
    weightDecay: opts.weightDecay ?? numOption(ctx, 'weightDecay', 5e-4),
    schedule: 'constant',
    seed: ctx.seed,
    ...(ctx.dataLimit !== undefined ? { limit: ctx.dataLimit } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return { set: res.params, arch };
}

/**
 * Overwriting: a fresh key of the attacker's (ctx.keygen, seeded by ctx.seed so a cumulative sweep
 * keeps the same one) embedded by naive training for `epochs` epochs.
 */
export async function overwrite(set: ParamSet, arch: Architecture, epochs: number, ctx: AttackContext): Promise<AttackResult> {
  if (!(epochs >= 0)) throw new Error(`overwriting epochs must be ≥ 0, got ${epochs}`);
  if (epochs === 0) return { set: copy(set), arch };
  const train = needTrainer(ctx, 'overwrite');
  if (!ctx.keygen) throw new Error(`attack 'overwrite' needs ctx.keygen to make the attacker's key`);
  const key = ctx.keygen(set, arch, { n: numOption(ctx, 'n', 1024), seed: ctx.seed + 0x5eed });
  const res = await train({
    arch,
    dataset: ownDataset(ctx, arch),
    strategy: 'naive',
    key,
    init: set,
    epochs,
    lr: numOption(ctx, 'lr', 0.1),
    momentum: numOption(ctx, 'momentum', 0.9),
    weightDecay: numOption(ctx, 'weightDecay', 5e-4),
    schedule: 'constant',
    seed: ctx.seed,
    ...(ctx.dataLimit !== undefined ? { limit: ctx.dataLimit } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return { set: res.params, arch };
}
