/** Reading an attack's options (ctx.options): a wrong value is an error naming the option, never a silent default. */
import type { Architecture } from '../core/architectures.js';
import { defaultDatasetFor } from '../data/datasets.js';
import type { AttackContext } from './types.js';

/**
 * The option as a non-negative finite number, or the fallback when absent.
 * @throws Error naming the option and what was given (a negative rate or a word would otherwise train anyway).
 */
export function numOption(ctx: Pick<AttackContext, 'options'>, name: string, fallback: number): number {
  const v = ctx.options?.[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`option ${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * One of `choices`, or the fallback when absent.
 * @throws Error naming the option and its choices (an unknown quantization mode would otherwise run as another).
 */
export function choiceOption<const T extends string>(ctx: Pick<AttackContext, 'options'>, name: string, choices: readonly T[], fallback: T): T {
  const v = ctx.options?.[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) throw new Error(`option ${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** true or false, or the fallback when absent. @throws Error naming the option when it is anything else. */
export function boolOption(ctx: Pick<AttackContext, 'options'>, name: string, fallback: boolean): boolean {
  const v = ctx.options?.[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new Error(`option ${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The data a training attack trains on: the model's own (ctx.dataset), else the built-in its input fits. */
export function ownDataset(ctx: Pick<AttackContext, 'dataset'>, arch: Architecture): string {
  return ctx.dataset ?? defaultDatasetFor(arch.inputShape);
}
