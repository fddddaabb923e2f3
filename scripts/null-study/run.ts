/**
 * The null study of docs/statistics.md: how often does the full verification path call an unrelated
 * model a match? Every suspect goes through verifyGroups — the service's own path: as read, then the
 * invariant re-alignment, Bonferroni over alignments, the configured variance inflation — against the
 * given owner model and key. For calibration the aligned suspects of both passes are also scored
 * without any correction, so the raw p-values can be checked for uniformity and the variance of t
 * through the invariant stage measured (what `defaults.score.invariantInflation` must cover).
 *
 *   npx tsx scripts/null-study/run.ts --model models/robustness/default.safetensors --key models/robustness/default.key.json \
 *     --random 1000 --trained .tmp/null/trained --out docs/null-study.json
 *
 * Suspects: --random N networks of the key's architecture (or --arch) at PyTorch's default initialisation
 * (seeds 1..N of core/init.ts), and every safetensors file of --trained (PyTorch-trained:
 * scripts/null-study/train_independent.py for LeNet5, train_independent_cifar.py for ResNet-32; and any
 * of ours). Writes the per-suspect numbers (JSON) and prints the tables.
 */
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyableTensors } from '../../src/core/architectures.js';
import { buildKeyBank } from '../../src/core/keyBank.js';
import { parseKey } from '../../src/core/keygen.js';
import { extractValues } from '../../src/core/extract.js';
import { initialParamSet } from '../../src/core/init.js';
import type { ParamSet } from '../../src/core/paramSet.js';
import { scoreAgainstKey, tOf } from '../../src/core/score.js';
import { defaults } from '../../src/core/config.js';
import { readModel } from '../../src/formats/index.js';
import { verifyGroups } from '../../src/verification/verifyGroups.js';

const { values: a } = parseArgs({ options: { arch: { type: 'string' }, model: { type: 'string' }, key: { type: 'string' }, random: { type: 'string', default: '1000' }, reference: { type: 'string' }, keys: { type: 'string' }, trained: { type: 'string' }, out: { type: 'string', default: 'docs/null-study.json' }, 'first-seed': { type: 'string', default: '1' } } });
if (!a.model || !a.key) throw new Error('--model and --key are required');
const read = (path: string): ParamSet => readModel([{ name: path, bytes: new Uint8Array(readFileSync(path)) }]).params;
const key = parseKey(JSON.parse(readFileSync(a.key, 'utf8')));
// The invariant stage aligns onto --reference (the model's alignment anchor) when given, else the model.
// The architecture is the key's: LeNet5 for the committed study, resnet32 for the CIFAR one.
const arch = a.arch ?? key.arch ?? 'lenet5';
const reference = { arch, tensors: read(a.reference ?? a.model).tensors };
const bank = buildKeyBank([key]);
const group = { referenceId: 'ref', reference, arch, mask: key, bank };
const fpr = defaults.score.fpr;

interface Row {
  source: string;
  name: string;
  raw: Record<'read' | 'invariant', { pooledLog10p: number; minLog10p: number; fisherLog10p: number; t: number; layers: Record<string, number>; layerT: Record<string, number> } | null>;
  final: { log10p: number; decision: string; alignment: string | null; comparisons: number };
  seconds: number;
}

function rawScore(aligned: ParamSet | undefined) {
  if (!aligned) return null;
  const ext = extractValues(aligned, key);
  const pooled = scoreAgainstKey(ext, key, { combination: 'pooled' });
  const min = scoreAgainstKey(ext, key, { combination: 'min' });
  const fisher = scoreAgainstKey(ext, key, { combination: 'fisher' });
  const nu = pooled.n - new Set(key.tensorIndex).size - 1;
  return { pooledLog10p: pooled.log10p, minLog10p: min.log10p, fisherLog10p: fisher.log10p, t: tOf(pooled.r, nu, 1), layers: Object.fromEntries(min.layers.map((l) => [l.layer, l.log10p])), layerT: Object.fromEntries(min.layers.map((l) => [l.layer, tOf(l.r, l.nu, 1)])) };
}

function run(source: string, name: string, suspect: ParamSet): Row {
  const t0 = performance.now();
  const raw: Row['raw'] = { read: null, invariant: null };
  let comparisons = 0;
  const [o] = verifyGroups(suspect, [group], { fpr, combination: defaults.score.combination, inflation: defaults.score.invariantInflation, detail: 1 }, () => reference, (pass, _g, aligned, c) => {
    raw[pass === 'as read' ? 'read' : 'invariant'] = rawScore(aligned);
    comparisons += c;
  });
  const r = o!.results[0];
  return {
    source, name, raw,
    final: { log10p: r?.score?.log10p ?? 0, decision: r?.score?.decision ?? 'no match', alignment: r?.alignment ?? null, comparisons },
    seconds: (performance.now() - t0) / 1000,
  };
}

if (a.keys) {
  // Under H0 the randomness is the key's, not the suspect's: one key scored against many suspects shares
  // one signal, so its t values are not independent draws. With the alignment anchor as reference
  // (weights from before any key was drawn) fresh keys need no retraining: draw K commitments, align each
  // suspect once per pass (no mask: the anchor carries no key) and score every key exactly.
  const { makeCommitment } = await import('../../src/core/commitment.js');
  const { planFromCommitment, materializeKey, policyRecord } = await import('../../src/core/keyPlan.js');
  const { scoreBank } = await import('../../src/core/keyBank.js');
  const K = Number(a.keys);
  const keys = Array.from({ length: K }, (_, i) => {
    const c = makeCommitment({ owner: 'null-study', subject: `key ${i}`, arch, n: key.values.length, allocation: policyRecord(defaults.key.allocation) });
    return materializeKey(planFromCommitment(c, keyableTensors(arch, reference.tensors)), reference, { id: `null-${i}`, arch });
  });
  const kb = buildKeyBank(keys);
  const g = { referenceId: 'anchor', reference, arch, mask: { ...key, tensorIndex: [], flatIndex: [], values: [], signal: undefined }, bank: kb };
  const suspects: [string, ParamSet][] = [];
  for (let s = Number(a['first-seed']); s < Number(a['first-seed']) + Number(a.random); s++) suspects.push(['random init', initialParamSet(arch, s)]);
  if (a.trained) for (const f of readdirSync(a.trained).filter((x) => x.endsWith('.safetensors')).sort()) suspects.push(['independently trained (PyTorch)', read(join(a.trained, f))]);
  const out: { source: string; read: number[]; invariant: number[]; final: number[]; tRead: number[]; tInv: number[] }[] = [];
  for (const [source, suspect] of suspects) {
    const raw: Record<string, number[]> = { read: [], invariant: [] };
    const ts: Record<string, number[]> = { read: [], invariant: [] };
    const [o] = verifyGroups(suspect, [g], { fpr, combination: defaults.score.combination, inflation: 1, detail: K }, () => reference, (pass, _g, aligned) => {
      if (!aligned) return;
      const p = pass === 'as read' ? 'read' : 'invariant';
      for (const r of scoreBank(kb, aligned, { fpr, comparisons: 1, combination: defaults.score.combination, inflation: 1, detail: K })) {
        if (!('score' in r)) continue;
        raw[p]!.push(r.score.log10p);
        // Pooled ν = Σ over layers of (ν_layer + 1) − 1: one mean per tensor group, one for the slope.
        ts[p]!.push(tOf(r.score.r, r.score.layers.reduce((a, l) => a + l.nu + 1, 0) - 1, 1));
      }
    });
    out.push({ source, read: raw.read!, invariant: raw.invariant!, final: o!.results.map((r) => r.score?.log10p ?? 0), tRead: ts.read!, tInv: ts.invariant! });
    if (out.length % 20 === 0) console.error(`${out.length}/${suspects.length} suspects x ${K} keys`);
  }
  const rate = (xs: number[], q: number) => xs.filter((l) => l < Math.log10(q)).length / Math.max(1, xs.length);
  const lines: string[] = [];
  for (const source of [...new Set(out.map((o) => o.source))]) {
    const os = out.filter((o) => o.source === source);
    const cols: [string, number[]][] = [
      [`as read, ${defaults.score.combination} over layers, uncorrected`, os.flatMap((o) => o.read)],
      [`invariant (anchor), ${defaults.score.combination} over layers, uncorrected`, os.flatMap((o) => o.invariant)],
      ['the service: both passes, corrected for alignments and keys', os.flatMap((o) => o.final)],
    ];
    lines.push(`\n${source}: ${os.length} suspects x ${K} keys = ${os.length * K} tests`, '| p-value | < 0.05 | < 0.01 | < 0.001 | below 1e-6 |', '|---|---|---|---|---|');
    for (const [label, xs] of cols) lines.push(`| ${label} (n=${xs.length}) | ${(rate(xs, 0.05) * 100).toFixed(2)}% | ${(rate(xs, 0.01) * 100).toFixed(2)}% | ${(rate(xs, 0.001) * 100).toFixed(3)}% | ${xs.filter((l) => l < -6).length} |`);
    for (const [label, xs] of [['as read', os.flatMap((o) => o.tRead)], ['invariant (anchor)', os.flatMap((o) => o.tInv)]] as const) {
      const m = xs.reduce((x, y) => x + y, 0) / xs.length;
      lines.push(`${label}: pooled t over ${xs.length} tests: mean ${m.toFixed(3)}, variance ${(xs.reduce((x, y) => x + (y - m) ** 2, 0) / (xs.length - 1)).toFixed(3)}`);
    }
  }
  writeFileSync(a.out!, JSON.stringify({ mode: 'many keys', model: a.model, reference: a.reference ?? a.model, keys: K, fpr, combination: defaults.score.combination, generatedAt: new Date().toISOString(), suspects: out.map((o) => ({ source: o.source, final: o.final, read: o.read, invariant: o.invariant })) }));
  console.log(lines.join('\n'));
  process.exit(0);
}
const rows: Row[] = [];
const first = Number(a['first-seed']);
for (let s = first; s < first + Number(a.random); s++) {
  rows.push(run('random init', `seed ${s}`, initialParamSet(arch, s)));
  if (rows.length % 50 === 0) console.error(`${rows.length} done, last ${rows[rows.length - 1]!.seconds.toFixed(2)} s`);
}
if (a.trained) {
  for (const f of readdirSync(a.trained).filter((x) => x.endsWith('.safetensors')).sort()) rows.push(run('independently trained (PyTorch)', f, read(join(a.trained, f))));
}
writeFileSync(a.out!, JSON.stringify({ model: a.model, key: key.id, fpr, inflation: defaults.score.invariantInflation, combination: defaults.score.combination, generatedAt: new Date().toISOString(), rows }, null, 1));

const rate = (xs: number[], q: number) => xs.filter((l) => l < Math.log10(q)).length / Math.max(1, xs.length);
for (const source of [...new Set(rows.map((r) => r.source))]) {
  const rs = rows.filter((r) => r.source === source);
  const col = (f: (r: Row) => number | undefined) => rs.map(f).filter((x): x is number => x !== undefined);
  const cols: [string, number[]][] = [
    ['as read, pooled, uncorrected', col((r) => r.raw.read?.pooledLog10p)],
    ['as read, per-layer min, Bonferroni over layers', col((r) => r.raw.read?.minLog10p)],
    ['as read, Fisher over layers', col((r) => r.raw.read?.fisherLog10p)],
    ['invariant, pooled, uncorrected', col((r) => r.raw.invariant?.pooledLog10p)],
    ['invariant, per-layer min, Bonferroni over layers', col((r) => r.raw.invariant?.minLog10p)],
    ['invariant, Fisher over layers (inflation 1)', col((r) => r.raw.invariant?.fisherLog10p)],
    ['the service: both passes, corrected, inflation ' + defaults.score.invariantInflation, col((r) => r.final.log10p)],
  ];
  console.log(`\n${source}: ${rs.length} models`);
  console.log('| p-value | < 0.05 | < 0.01 | < 0.001 | decisions "match" at 1e-6 |\n|---|---|---|---|---|');
  for (const [label, xs] of cols) console.log(`| ${label} (n=${xs.length}) | ${(rate(xs, 0.05) * 100).toFixed(1)}% | ${(rate(xs, 0.01) * 100).toFixed(1)}% | ${(rate(xs, 0.001) * 100).toFixed(2)}% | ${label.startsWith('the service') ? rs.filter((r) => r.final.decision === 'match').length : '–'} |`);
  for (const pass of ['read', 'invariant'] as const) {
    const ts = col((r) => r.raw[pass]?.t);
    const m = ts.reduce((x, y) => x + y, 0) / ts.length;
    const v = ts.reduce((x, y) => x + (y - m) ** 2, 0) / (ts.length - 1);
    console.log(`${pass}: t of the pooled test over ${ts.length} models: mean ${m.toFixed(3)}, variance ${v.toFixed(3)} (1 under H0; ±${(Math.sqrt(2 / (ts.length - 1))).toFixed(3)} sampling sd)`);
    const layerNames = [...new Set(rs.flatMap((r) => Object.keys(r.raw[pass]?.layerT ?? {})))];
    for (const l of layerNames) {
      const lt = col((r) => r.raw[pass]?.layerT[l]);
      const lm = lt.reduce((x, y) => x + y, 0) / lt.length;
      console.log(`  ${l}: t mean ${lm.toFixed(3)}, variance ${(lt.reduce((x, y) => x + (y - lm) ** 2, 0) / (lt.length - 1)).toFixed(3)}`);
    }
  }
}
