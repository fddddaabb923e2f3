/** Reading an attack's numeric options (ctx.options), shared by the training attacks. */
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
