/**
 * Batch-norm re-estimation: every batch norm's running mean and variance recomputed from the attacker's
 * images, every weight untouched — what a deployer recalibrating a model for its own data does, and
 * what changes the evaluation-mode function of a network with batch norm without training it. The
 * strength is the number of batches (of 100 images, augmented as in training) the statistics follow;
 * with the norms' momentum 0.9 the old statistics weigh 0.9^k after k batches.
 */
import type { Architecture } from '../core/architectures.js';
import { paramSpecs } from '../core/architectures.js';
import { ownDataset } from './options.js';
import type { ParamSet } from '../core/paramSet.js';
import type { AttackContext, AttackResult } from './types.js';

const BATCH = 100;

/** Why `arch` has nothing to re-estimate, or undefined. */
export function normsUnfit(arch: Architecture): string | undefined {
  return paramSpecs(arch).some((s) => s.role === 'movingMean') ? undefined : `${arch.name} has no batch norm whose statistics could be re-estimated`;
}

export async function reestimateNorms(set: ParamSet, arch: Architecture, batches: number, ctx: AttackContext): Promise<AttackResult> {
  if (!(Number.isInteger(batches) && batches >= 0)) throw new Error(`batch-norm re-estimation takes a whole number of batches ≥ 0, got ${batches}`);
  const unfit = normsUnfit(arch);
  if (unfit) throw new Error(unfit);
  const specs = paramSpecs(arch);
  if (batches === 0) return { set: { ...set, tensors: set.tensors.map((t) => ({ ...t, shape: [...t.shape], data: new Float32Array(t.data) })) }, arch };
  if (!ctx.train) throw new Error("attack 'bn-reestimate' needs data and a trainer; pass ctx.train (trainModel)");
  const res = await ctx.train({
    arch,
    dataset: ownDataset(ctx, arch),
    strategy: 'none',
    init: set,
    // Every trainable tensor frozen: only the running statistics, which follow the batches, move.
    frozen: specs.filter((s) => s.trainable).map((s) => s.name),
    epochs: 1,
    limit: batches * BATCH,
    schedule: 'constant',
    seed: ctx.seed,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return { set: res.params, arch };
}
