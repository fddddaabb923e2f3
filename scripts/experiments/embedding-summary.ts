/**
 * Tables for docs/experiments/embedding.md from the eval.json files of embedding-eval.ts: per config,
 * mean ± sd over seeds of accuracy, the marked weights' KS p-value per layer, the valley, and, per
 * attack, accuracy, r and how many seeds still read "match" (per-layer combination, and the pooled
 * test for comparison).
 *
 *   npx tsx scripts/experiments/embedding-summary.ts --models .tmp/embedding [--configs none,proportional,...]
 */
import { parseArgs } from 'node:util';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const { values: a } = parseArgs({ options: { models: { type: 'string', default: '.tmp/embedding' }, configs: { type: 'string' } } });

interface AttackEval { accuracy: number; r: number; min: { log10p: number; decision: string }; fisher: { log10p: number; decision: string }; pooled: { log10p: number; decision: string }; layers: Record<string, { r: number; n: number; log10p: number }> }
interface Eval { config: string; seed: number; accuracy: number; ks?: Record<string, { n: number; d: number; p: number }>; valley?: { sigma1: number; sigma3: number }; attacks?: Record<string, AttackEval> }

const evals: Eval[] = readdirSync(a.models!)
  .filter((d) => existsSync(join(a.models!, d, 'eval.json')))
  .map((d) => JSON.parse(readFileSync(join(a.models!, d, 'eval.json'), 'utf8')) as Eval);
const configs = a.configs ? a.configs.split(',') : [...new Set(evals.map((e) => e.config))].sort();
const by = (c: string) => evals.filter((e) => e.config === c).sort((x, y) => x.seed - y.seed);
const ms = (xs: number[], digits = 2, scale = 1): string => {
  if (xs.length === 0) return '–';
  const m = xs.reduce((p, q) => p + q, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(m * scale).toFixed(digits)} ± ${(sd * scale).toFixed(digits)}`;
};

console.log('| config | seeds | accuracy % | KS p of marked weights (min over layers; per layer) | valley σ=1 / σ=3 (test-loss rise) |\n|---|---|---|---|---|');
for (const c of configs) {
  const es = by(c);
  if (es.length === 0) continue;
  const ks = es.filter((e) => e.ks).map((e) => Math.min(...Object.values(e.ks!).map((k) => k.p)));
  const perLayer = es[0]!.ks ? Object.keys(es[0]!.ks).map((l) => `${l} ${Math.min(...es.map((e) => e.ks![l]?.p ?? 1)).toExponential(1)}`).join(', ') : '';
  const valley = es.filter((e) => e.valley);
  console.log(`| ${c} | ${es.map((e) => e.seed).join(',')} | ${ms(es.map((e) => e.accuracy), 2, 100)} | ${ks.length ? `${Math.min(...ks).toExponential(1)} (${perLayer})` : '–'} | ${valley.length ? `${ms(valley.map((e) => e.valley!.sigma1), 4)} / ${ms(valley.map((e) => e.valley!.sigma3), 4)}` : '–'} |`);
}

const attacks = [...new Set(evals.flatMap((e) => Object.keys(e.attacks ?? {})))];
for (const attack of attacks) {
  console.log(`\n**${attack}**\n\n| config | accuracy % | r (pooled) | match: per-layer min / Fisher / pooled | weakest log10 p (min) | layers r (mean) |\n|---|---|---|---|---|---|`);
  for (const c of configs) {
    const es = by(c).filter((e) => e.attacks?.[attack]);
    if (es.length === 0) continue;
    const at = es.map((e) => e.attacks![attack]!);
    const count = (k: 'min' | 'fisher' | 'pooled') => `${at.filter((x) => x[k].decision === 'match').length}/${at.length}`;
    const layers = Object.keys(at[0]!.layers).map((l) => `${l} ${(at.reduce((p, x) => p + (x.layers[l]?.r ?? 0), 0) / at.length).toFixed(2)}`).join(', ');
    console.log(`| ${c} | ${ms(at.map((x) => x.accuracy), 2, 100)} | ${ms(at.map((x) => x.r), 3)} | ${count('min')} / ${count('fisher')} / ${count('pooled')} | ${Math.max(...at.map((x) => x.min.log10p)).toFixed(1)} | ${layers} |`);
  }
}
