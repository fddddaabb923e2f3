/**
 * Chains: attacks applied one after the other ([{ attack, strength }, …]), each step seeded from the
 * chain's seed and its position so a chain is reproducible. `chainAttack` turns a chain into an
 * attack whose strength replaces one step's, so a chain can be swept like any attack.
 */
import type { Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { Attack, AttackContext, AttackResult } from './types.js';

export interface ChainStep {
  readonly attack: Attack;
  readonly strength: number;
  readonly options?: Readonly<Record<string, number | string | boolean>>;
}

/** Applies the steps in order; the input is never modified. */
export async function runChain(set: ParamSet, arch: Architecture, steps: readonly ChainStep[], ctx: AttackContext): Promise<AttackResult> {
  let cur: AttackResult = { set, arch };
  for (const [i, step] of steps.entries()) {
    ctx.signal?.throwIfAborted();
    const stepCtx: AttackContext = { ...ctx, seed: ctx.seed + 7919 * (i + 1), ...(step.options ? { options: { ...ctx.options, ...step.options } } : {}) };
    cur = await step.attack.run(cur.set, cur.arch, step.strength, stepCtx);
  }
  if (cur.set === set) return { set: { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) })) }, arch };
  return cur;
}

/** An attack running `steps`, with the sweep's strength put into step `sweepStep` (default: the last). */
export function chainAttack(name: string, steps: readonly ChainStep[], sweepStep = steps.length - 1, title?: string): Attack {
  const swept = steps[sweepStep];
  if (!swept) throw new Error(`chain '${name}' has no step ${sweepStep}`);
  return {
    name,
    title: title ?? steps.map((s, i) => (i === sweepStep ? s.attack.title : `${s.attack.title} (${s.strength})`)).join(' → '),
    description: `Chain: ${steps.map((s) => s.attack.name).join(' → ')}; the strength is that of '${swept.attack.name}'.`,
    strength: swept.attack.strength,
    needsData: steps.some((s) => s.attack.needsData),
    changesShape: steps.some((s) => s.attack.changesShape),
    functionPreserving: steps.every((s) => s.attack.functionPreserving),
    ...(steps.some((s) => s.attack.targetsAlignment) ? { targetsAlignment: true } : {}),
    cumulative: false,
    run: (set, arch, strength, ctx) => runChain(set, arch, steps.map((s, i) => (i === sweepStep ? { ...s, strength } : s)), ctx),
    // The first step only sees the model's own architecture (a dummy step widens it for the next).
    unfit: (arch) => steps[0]!.attack.unfit?.(arch),
  };
}
