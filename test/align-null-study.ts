/**
 * Not a test: measures the null distribution of the key score for UNRELATED networks aligned against
 * a reference (z = Fisher z·√(n−3) of r; under H0 its variance should be 1). Compares the plain pooled
 * r with r on values z-scored within each tensor, with and without alignment.
 *   npx tsx test/align-null-study.ts lenet 80   |   mlp 40   |   tiny
 */
import { getArchitecture, type Architecture } from '../src/core/architectures.js';
import { alignToKey, standardizeWithinTensors } from '../src/core/align/index.js';
import { embedKey, extractAt, obfuscate, pearson, randomParams, rngFrom, tinyConv, tinyMlp } from './align-helpers.js';
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));
function run(arch: Architecture, seeds: number, n: number, obf: boolean) {
  const zs: number[] = [], zp: number[] = [], zu: number[] = [], zpu: number[] = [];
  for (let i = 0; i < seeds; i++) {
    const seed = 5000 + i;
    const rng = rngFrom(seed);
    const ref = randomParams(arch, rng);
    const key = embedKey(ref, n, rng);
    const unrelated = randomParams(arch, rngFrom(seed + 100_000));
    const suspect = obf ? obfuscate(unrelated, arch, rngFrom(seed + 200_000), { permute: true, scaleRange: 3, dummies: 2 }) : unrelated;
    const res = alignToKey(suspect, key, { reference: ref });
    const z = (r: number) => Math.atanh(r) * Math.sqrt(n - 3);
    const x = extractAt(res.params, key);
    const kz = standardizeWithinTensors(key.values, key.tensorIndex);
    zs.push(z(pearson(standardizeWithinTensors(x, key.tensorIndex), kz)));
    zp.push(z(pearson(x, key.values)));
    const xu = extractAt(unrelated, key);
    zu.push(z(pearson(standardizeWithinTensors(xu, key.tensorIndex), kz)));
    zpu.push(z(pearson(xu, key.values)));
  }
  const rate = (a: number[], z: number) => `${((100 * a.filter((v) => v > z).length) / a.length).toFixed(1)}%`;
  const f = (a: number[]) => `mean ${mean(a).toFixed(3)}±${(Math.sqrt(variance(a) / a.length)).toFixed(3)} var ${variance(a).toFixed(3)}; p<0.01 ${rate(a, 2.326)}, p<0.001 ${rate(a, 3.09)}`;
  console.log(`${arch.name} obf=${obf} seeds=${seeds} n=${n}\n  aligned std ${f(zs)}\n  aligned pooled ${f(zp)}\n  unaligned std ${f(zu)}\n  unaligned pooled ${f(zpu)}`);
}
const which = process.argv[2];
if (which === 'tiny') { run(tinyConv, 1500, 120, true); run(tinyMlp, 1500, 120, true); run(tinyConv, 1500, 120, false); }
if (which === 'lenet') run(getArchitecture('lenet5'), Number(process.argv[3] ?? 30), 1000, false);
if (which === 'mlp') run(getArchitecture('mlp'), Number(process.argv[3] ?? 30), 1000, false);
