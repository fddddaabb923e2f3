/**
 * Chains as data, from the command line (`--chain "low-rank:15,fine-tune:1"`) or an API request
 * (`chain: [{ attack, strength, options }]`), checked and turned into one attack (chain.ts's chainAttack).
 *
 * One step may leave its strength out: that is the step a sweep (or `--strength`) sets. When every step
 * has a strength, the last one is swept, and a single run applies the chain as written.
 *
 * Text form: steps separated by commas; a step is `NAME[:STRENGTH][[k=v;k=v]]`, the options in square
 * brackets (so they may hold commas), pairs separated by ';' or spaces, e.g.
 * `low-rank:15[ranks=fc1=15,conv2=15,fc2=8],fine-tune-low-lr:1`.
 */
import { chainAttack, type ChainStep } from './chain.js';
import { getAttack } from './index.js';
import type { Attack } from './types.js';

export type AttackOptionValue = number | string | boolean;
export type AttackOptions = Readonly<Record<string, AttackOptionValue>>;

export interface ChainStepSpec {
  readonly attack: string;
  readonly strength?: number;
  readonly options?: AttackOptions;
}

export interface BuiltChain {
  readonly attack: Attack;
  /** Index of the step whose strength a sweep or --strength sets. */
  readonly sweepStep: number;
  /** The swept step's own strength; undefined when it was left out (then a strength must be given). */
  readonly strength: number | undefined;
  readonly specs: readonly ChainStepSpec[];
}

export const MAX_CHAIN_STEPS = 8;
const OPTION_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

/** "true"/"false" → boolean, a plain number → number, anything else → the string. */
function optionValue(text: string): AttackOptionValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  return text;
}

/**
 * Parses attack options written `k=v` (pairs separated by ';' or whitespace; the value runs to the next
 * separator and may hold '=' and ','). Values are typed: true/false, numbers, else strings.
 * @throws Error naming the pair that is not `name=value` and what is accepted.
 */
export function parseOptionsText(text: string): Record<string, AttackOptionValue> {
  const out: Record<string, AttackOptionValue> = {};
  for (const pair of text.split(/[;\s]+/).filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!OPTION_NAME.test(name) || eq === pair.length - 1) {
      throw new Error(`attack option '${pair}' is not name=value (e.g. lr=0.01, layers=fc1,fc2, ranks=fc1=15,fc2=8; pairs separated by ';' or spaces)`);
    }
    out[name] = optionValue(pair.slice(eq + 1));
  }
  return out;
}

/** Splits at commas outside square brackets. @throws Error on unbalanced brackets. */
function splitSteps(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0) throw new Error(`chain '${text}': a ']' without its '['`);
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new Error(`chain '${text}': a '[' without its ']'`);
  parts.push(cur);
  return parts.map((p) => p.trim());
}

/**
 * Parses the text form of a chain (see the module comment).
 * @throws Error naming the step that is malformed, with the accepted form.
 */
export function parseChainText(text: string): ChainStepSpec[] {
  if (text.trim() === '') throw new Error('the chain is empty; give steps like "low-rank:15,fine-tune:1"');
  return splitSteps(text).map((part, i) => {
    const m = /^([A-Za-z0-9_-]+)\s*(?::\s*([^[\]\s]+))?\s*(?:\[([^\]]*)\])?$/.exec(part);
    if (!m) throw new Error(`chain step ${i + 1} '${part}' is not NAME[:STRENGTH][[k=v;…]] (e.g. low-rank:15, fine-tune:1, low-rank:15[ranks=fc1=15,fc2=8])`);
    const [, attack, strengthText, optionsText] = m;
    let strength: number | undefined;
    if (strengthText !== undefined) {
      strength = Number(strengthText);
      if (!Number.isFinite(strength)) throw new Error(`chain step ${i + 1} '${part}': the strength '${strengthText}' is not a number`);
    }
    const options = optionsText !== undefined ? parseOptionsText(optionsText) : undefined;
    return { attack: attack!, ...(strength !== undefined ? { strength } : {}), ...(options && Object.keys(options).length > 0 ? { options } : {}) };
  });
}

/** The text form of a chain (what parseChainText reads back). */
export function formatChain(specs: readonly ChainStepSpec[]): string {
  return specs
    .map((s) => {
      const opts = s.options ? Object.entries(s.options).map(([k, v]) => `${k}=${String(v)}`).join(';') : '';
      return `${s.attack}${s.strength !== undefined ? `:${s.strength}` : ''}${opts ? `[${opts}]` : ''}`;
    })
    .join(',');
}

/** @throws Error naming the option that is not a name with a string, number or boolean value. */
export function checkOptions(options: unknown, where: string): AttackOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new Error(`${where}: options must be an object of name → value, got ${JSON.stringify(options)}`);
  for (const [k, v] of Object.entries(options)) {
    if (!OPTION_NAME.test(k)) throw new Error(`${where}: option name '${k}' must be letters and digits (e.g. lr, weightDecay)`);
    if (!['string', 'number', 'boolean'].includes(typeof v) || (typeof v === 'number' && !Number.isFinite(v))) {
      throw new Error(`${where}: option ${k} must be a string, a finite number or a boolean, got ${JSON.stringify(v)}`);
    }
  }
  return options as AttackOptions;
}

/**
 * Checks a chain and makes it one attack, named by its text form.
 * @throws Error when the chain is empty or longer than MAX_CHAIN_STEPS, names an unknown attack (the
 *   message lists the known ones), has a non-finite strength or malformed options, or leaves out the
 *   strength of more than one step.
 */
export function buildChain(specs: readonly ChainStepSpec[]): BuiltChain {
  if (specs.length === 0) throw new Error('the chain is empty; give at least one step, e.g. low-rank:15,fine-tune:1');
  if (specs.length > MAX_CHAIN_STEPS) throw new Error(`the chain has ${specs.length} steps; at most ${MAX_CHAIN_STEPS} are accepted`);
  const steps: ChainStep[] = specs.map((s, i) => {
    const where = `chain step ${i + 1} (${s.attack})`;
    let attack: Attack;
    try {
      attack = getAttack(s.attack);
    } catch (e) {
      throw new Error(`chain step ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (s.strength !== undefined && (typeof s.strength !== 'number' || !Number.isFinite(s.strength))) throw new Error(`${where}: the strength must be a finite number, got ${JSON.stringify(s.strength)}`);
    const options = s.options !== undefined ? checkOptions(s.options, where) : undefined;
    // A step without a strength gets its attack's first default until the sweep sets it.
    return { attack, strength: s.strength ?? attack.strength.defaults[0]!, ...(options ? { options } : {}) };
  });
  const open = specs.flatMap((s, i) => (s.strength === undefined ? [i] : []));
  if (open.length > 1) {
    throw new Error(`chain steps ${open.map((i) => `${i + 1} (${specs[i]!.attack})`).join(', ')} have no strength; only one step (the swept one) may leave it out`);
  }
  const sweepStep = open[0] ?? specs.length - 1;
  const name = formatChain(specs);
  return { attack: chainAttack(name, steps, sweepStep), sweepStep, strength: specs[sweepStep]!.strength, specs };
}
