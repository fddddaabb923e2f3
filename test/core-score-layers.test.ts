import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreWatermark } from '../src/core/score.js';
import { gaussianSource } from '../src/core/locking.js';

const layerOf = (g: number): string => ['conv1', 'conv1', 'conv2', 'fc1', 'fc2'][g]!;
// Like a committed LeNet5 key: small layers with a floor of positions, most of them in fc1; tensor 1 is a bias.
const groups = [...Array(60).fill(0), ...Array(4).fill(1), ...Array(110).fill(2), ...Array(780).fill(3), ...Array(70).fill(4)];

test('when the suspect is independent of a committed signal, then the per-layer, pooled and combined p-values are calibrated whatever the weights look like', () => {
  const g = gaussianSource(77);
  // A fixed, heavy-tailed, heteroscedastic extraction: the exactness of the test comes from the signal, not the weights.
  const x = groups.map((t, i) => (t + 1) * 0.01 * Math.tan(Math.PI * ((((i * 7919) % 997) + 0.5) / 997 - 0.5)));
  const trials = 3000;
  const below = { pooled: 0, layer: 0, min: 0, fisher: 0 };
  const q = 0.05;
  for (let k = 0; k < trials; k++) {
    const z = groups.map(() => g());
    const pooled = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'pooled', fpr: q });
    const min = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'min', fpr: q });
    const fisher = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'fisher', fpr: q });
    if (pooled.pValue < q) below.pooled++;
    if (min.pValue < q) below.min++;
    if (fisher.pValue < q) below.fisher++;
    if (Math.pow(10, min.layers.find((l) => l.layer === 'conv2')!.log10p) < q) below.layer++;
  }
  const sd = Math.sqrt((q * (1 - q)) / trials);
  for (const k of ['pooled', 'layer', 'fisher'] as const) assert.ok(Math.abs(below[k] / trials - q) < 4 * sd, `${k}: P(p < ${q}) = ${below[k] / trials}`);
  // Bonferroni over L + 1 correlated tests is conservative, never liberal.
  assert.ok(below.min / trials < q + 4 * sd && below.min / trials > q / 5, `min: P(p < ${q}) = ${below.min / trials}`);
});

test('when only one small layer keeps the mark (the others were replaced), then the per-layer combination decides while the pooled test cannot', () => {
  const g = gaussianSource(5);
  const z = groups.map(() => g());
  // conv1 (64 positions) exact; every other layer re-initialised: unrelated to the signal.
  const x = groups.map((t, i) => (t <= 1 ? z[i]! * 0.1 : g() * 0.05));
  const pooled = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'pooled' });
  const min = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'min' });
  assert.equal(pooled.decision, 'no match', `pooled r ${pooled.r}, log10p ${pooled.log10p}`);
  assert.equal(min.decision, 'match');
  const conv1 = min.layers.find((l) => l.layer === 'conv1')!;
  assert.equal(conv1.n, 64);
  assert.ok(conv1.r > 0.999);
  assert.deepEqual(min.layers.map((l) => l.layer), ['conv1', 'conv2', 'fc1', 'fc2'], 'layers are listed in tensor order');
});

test('when a variance inflation is given, then t shrinks by its square root and the p-value grows', () => {
  const g = gaussianSource(8);
  const z = groups.map(() => g());
  const x = z.map((v) => v + 6 * g());
  const plain = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'pooled' });
  const inflated = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal', combination: 'pooled', inflation: 1.5 });
  assert.equal(plain.r, inflated.r);
  assert.ok(inflated.log10p > plain.log10p + 0.5, `${inflated.log10p} vs ${plain.log10p}`);
  assert.equal(inflated.inflation, 1.5);
});

test('when a tensor has no spread in the suspect (pruned to zero), then it drops out instead of breaking the score', () => {
  const g = gaussianSource(9);
  const z = groups.map(() => g());
  const x = groups.map((t, i) => (t === 3 ? 0 : z[i]!));
  const s = scoreWatermark(x, z, { groups, layerOfGroup: layerOf, statistic: 'signal' });
  assert.equal(s.decision, 'match');
  assert.equal(s.layers.find((l) => l.layer === 'fc1'), undefined);
});
