import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignToKey, standardizeWithinTensors } from '../src/core/align/index.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { embedKey, extractAt, gauss, pearson, randomParams, rngFrom, tinyConv } from './align-helpers.js';

function derivedAndRescaled(seed: number): { ref: ParamSet; tuned: ParamSet; rescaled: ParamSet; key: ReturnType<typeof embedKey> } {
  const rng = rngFrom(seed);
  const ref = randomParams(tinyConv, rng);
  const key = embedKey(ref, 200, rng);
  const tuned: ParamSet = { tensors: ref.tensors.map((t) => ({ ...t, data: t.data.map((v) => v + 0.3 * Math.abs(v) * gauss(rng)) })) };
  const factor: Record<string, number> = { 'conv1/kernel': 0.05, 'conv1/bias': 0.05, 'fc2/kernel': 30, 'fc2/bias': 30 };
  const rescaled: ParamSet = { tensors: tuned.tensors.map((t) => ({ ...t, data: t.data.map((v) => v * (factor[t.name] ?? 1)) })) };
  return { ref, tuned, rescaled, key };
}

test('when whole tensors were rescaled and no reference is given, then the within-tensor standardized r is unchanged while the pooled r drops', () => {
  const { tuned, rescaled, key } = derivedAndRescaled(1);
  const res = alignToKey(rescaled, key);
  const x = extractAt(res.params, key);
  const x0 = extractAt(tuned, key);
  const kz = standardizeWithinTensors(key.values, key.tensorIndex);
  const rStd = pearson(standardizeWithinTensors(x, key.tensorIndex), kz);
  const rStd0 = pearson(standardizeWithinTensors(x0, key.tensorIndex), kz);
  assert.ok(Math.abs(rStd - rStd0) < 1e-6, `${rStd} vs ${rStd0}`);
  assert.ok(pearson(x, key.values) < pearson(x0, key.values) - 0.2, `pooled ${pearson(x, key.values)} vs ${pearson(x0, key.values)}`);
  assert.ok(res.notes.some((n) => /scaling were taken as read/.test(n)));
});

test('when whole tensors were rescaled and the reference is given, then the scales are undone and the pooled r comes back', () => {
  const { ref, tuned, rescaled, key } = derivedAndRescaled(2);
  const res = alignToKey(rescaled, key, { reference: ref });
  const r = pearson(extractAt(res.params, key), key.values);
  const r0 = pearson(extractAt(tuned, key), key.values);
  assert.ok(Math.abs(r - r0) < 0.05, `pooled r ${r} vs ${r0} before rescaling`);
});

test('when a tensor has a single keyed position or no spread, then its standardized values are 0', () => {
  assert.deepEqual([...standardizeWithinTensors([5, 1, 3, 2, 2], [0, 1, 1, 2, 2])], [0, -1, 1, 0, 0]);
});
