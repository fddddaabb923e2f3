/**
 * Flag parsing shared by the CLI commands. Kept apart from main.ts, which runs the CLI as soon as it is
 * imported, so commands can be imported (and tested in-process) without starting it.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad usage — an unknown flag, a missing or malformed value: the CLI exits 2 for it (1 is for failures). */
export class UsageError extends Error {}

/** node:util parseArgs, strict, with --json and --help added to `options`. @throws UsageError on unknown flags. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `value` as a number (fallback when absent). @throws UsageError naming the flag and the value given. */
export function num(value: string | undefined, name: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got '${value}'`);
  return v;
}

/** @throws naming the flag, the allowed values and the value given. */
export function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

/** @throws when the flag is absent or empty. */
export function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * Which alignment a score keeps: 'both' (the service's verification: as read, then the invariant pass unless
 * as read is already decisive, the better kept), 'as-read' (names and layouts only; `--no-invariant` says the
 * same) or 'invariant' (the invariant pass alone, as the robustness report's invariant columns).
 */
export type AlignmentChoice = 'both' | 'as-read' | 'invariant';

/** --alignment, or --no-invariant as its shorthand for as-read. @throws UsageError when they disagree or the value is unknown. */
export function alignmentChoice(a: { alignment?: string | undefined; 'no-invariant'?: boolean | undefined }): AlignmentChoice {
  const choice = oneOf(a.alignment, 'alignment', ['both', 'as-read', 'invariant'] as const, a['no-invariant'] ? 'as-read' : 'both');
  if (a['no-invariant'] && choice !== 'as-read') throw new UsageError(`--no-invariant means --alignment as-read; it contradicts --alignment ${choice}`);
  return choice;
}
