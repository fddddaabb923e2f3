import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Architecture } from '../src/core/architectures.js';
import { alignToKey, standardizeWithinTensors } from '../src/core/align/index.js';
import { extractValues } from '../src/core/extract.js';
import { scoreWatermark } from '../src/core/score.js';
import { embedKey, extractAt, obfuscate, pearson, randomParams, rngFrom, tinyConv, tinyMlp } from './align-helpers.js';

interface NullRun {
  /** Fisher z·√(n-3) of r(extracted, key) after z-scoring both within each tensor. */
  readonly zStd: number;
  readonly pStd: number;
  /** The same for the plain pooled r. */
  readonly zPooled: number;
  /** The same for the unrelated model read by name, without alignment. */
  readonly zStdUnaligned: number;
}

/**
 * An unrelated random network (obfuscated too) aligned against the owner's reference and key, scored by
 * the lead's scoreWatermark on values z-scored within each tensor (see standardizeWithinTensors: the
 * plain pooled r is anticonservative across tensors of different scale, also without alignment).
 */
function nullRun(arch: Architecture, seed: number, n: number): NullRun {
  const rng = rngFrom(seed);
  const ref = randomParams(arch, rng);
  const key = embedKey(ref, n, rng);
  const unrelated = randomParams(arch, rngFrom(seed + 100_000));
  const suspect = obfuscate(unrelated, arch, rngFrom(seed + 200_000), { permute: true, scaleRange: 3, dummies: 2 });
  const res = alignToKey(suspect, key, { reference: ref });
  const zOf = (r: number): number => Math.atanh(r) * Math.sqrt(n - 3);
  const x = extractValues(res.params, key);
  const score = scoreWatermark(standardizeWithinTensors(x, key.tensorIndex), standardizeWithinTensors(key.values, key.tensorIndex), { fpr: 1e-6 });
  const xUn = extractAt(unrelated, key);
  return {
    zStd: zOf(score.r),
    pStd: score.pValue,
    zPooled: zOf(pearson(x, key.values)),
    zStdUnaligned: zOf(pearson(standardizeWithinTensors(xUn, key.tensorIndex), standardizeWithinTensors(key.values, key.tensorIndex))),
  };
}

function ksUniform(ps: readonly number[]): number {
  const s = [...ps].sort((a, b) => a - b);
  let d = 0;
  s.forEach((p, i) => {
    d = Math.max(d, (i + 1) / s.length - p, p - i / s.length);
  });
  return d;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]): number => mean(xs.map((x) => (x - mean(xs)) ** 2));

for (const [arch, seeds, n] of [[tinyConv, 120, 120], [tinyMlp, 120, 120]] as const) {
  test(`when unrelated ${arch.name} networks are aligned against a reference, then the key score stays null (p roughly uniform)`, () => {
    const runs = Array.from({ length: seeds }, (_, i) => nullRun(arch, 1000 + i, n));
    const z = runs.map((r) => r.zStd);
    const ps = runs.map((r) => r.pStd);
    const ks = ksUniform(ps);
    const below05 = ps.filter((p) => p < 0.05).length / seeds;
    console.log(
      `${arch.name}: ${seeds} unrelated models, n = ${n}; standardized z mean ${mean(z).toFixed(3)} var ${variance(z).toFixed(3)}, KS ${ks.toFixed(3)}, p<0.05 ${(below05 * 100).toFixed(1)}%, min p ${Math.min(...ps).toExponential(2)}; ` +
        `pooled z var ${variance(runs.map((r) => r.zPooled)).toFixed(3)}; unaligned standardized z mean ${mean(runs.map((r) => r.zStdUnaligned)).toFixed(3)} var ${variance(runs.map((r) => r.zStdUnaligned)).toFixed(3)}`,
    );
    assert.ok(Math.abs(mean(z)) < 3 / Math.sqrt(seeds), `mean z ${mean(z)} is pulled away from 0`);
    assert.ok(variance(z) > 0.6 && variance(z) < 1.5, `var z ${variance(z)}`);
    assert.ok(ks < 1.63 / Math.sqrt(seeds), `KS distance ${ks} from uniform (1% critical ${(1.63 / Math.sqrt(seeds)).toFixed(3)})`);
    assert.ok(below05 < 0.05 + 3 * Math.sqrt((0.05 * 0.95) / seeds), `${below05} of p-values below 0.05`);
    assert.ok(Math.min(...ps) > 1e-4);
  });
}
