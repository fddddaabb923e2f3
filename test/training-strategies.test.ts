import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getArchitecture } from '../src/core/architectures.js';
import { extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { loadDataset } from '../src/data/datasets.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';
import { TrainingCancelled, toParamSet, trainModel } from '../src/training/train.js';
import { committedTraining } from '../src/training/committedKey.js';
import { commitmentDigest, makeCommitment } from '../src/core/commitment.js';
import { checkDerivation, materializeKey, policyRecord } from '../src/core/keyPlan.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { defaults } from '../src/core/config.js';

const arch = getArchitecture('mlp');
const trainData = loadDataset('mnist', 'train', { limit: 1500 });
const testData = loadDataset('mnist', 'test', { limit: 500 });
const init = toParamSet(arch, initParams(arch, 1));
const key = generateKey(keyTargetsFromParamSet(init), { seed: 'strategies-test', n: 256, arch: arch.name });

test('when a model trains with the naive strategy, then it learns and every keyed value stays bit-exact', async () => {
  const res = await trainModel({ arch, strategy: 'naive', key, init, epochs: 3, trainData, testData, threads: 1, lr: 0.05 });
  assert.ok(res.testAccuracy > 0.75, `accuracy ${res.testAccuracy}`);
  const got = extractValues(res.params, key);
  key.values.forEach((v, i) => assert.equal(got[i], v));
  assert.equal(scoreAgainstKey(got, key).r, 1);
});

test('when a model trains with delve, then it learns, the keyed values stay exact and the replicas cost extra passes', async () => {
  const engine = await createGradientEngine(arch, { threads: 1 });
  let calls = 0;
  const counting = { ...engine, lossAndGradsMany: (ps: readonly (readonly Float32Array[])[], b: Parameters<typeof engine.lossAndGradsMany>[1]) => { calls += ps.length; return engine.lossAndGradsMany(ps, b); } };
  try {
    const res = await trainModel({ arch, strategy: 'delve', key, init, epochs: 3, trainData, testData, engine: counting, lr: 0.05, delve: { replicas: 2, sigma: 1, lambda: 0.1 } });
    assert.ok(res.testAccuracy > 0.75, `accuracy ${res.testAccuracy}`);
    const got = extractValues(res.params, key);
    key.values.forEach((v, i) => assert.equal(got[i], v));
    assert.equal(calls, 45 * 3, '45 steps × (model + 2 replicas)');
  } finally {
    await engine.dispose();
  }
});

test('when a model is trained without the key from another seed, then the key does not match it (p > 0.01)', async () => {
  const other = toParamSet(arch, initParams(arch, 2));
  const res = await trainModel({ arch, strategy: 'none', init: other, epochs: 1, trainData, testData, threads: 1, lr: 0.05 });
  const s = scoreAgainstKey(extractValues(res.params, key), key);
  assert.ok(s.pValue > 0.01, `p = ${s.pValue}`);
  assert.equal(s.decision, 'no match');
});

test('when the signal aborts, then training stops with TrainingCancelled', async () => {
  const controller = new AbortController();
  await assert.rejects(
    trainModel({ arch, strategy: 'naive', key, init, epochs: 1, trainData, testData, threads: 1, signal: controller.signal, onProgress: (p) => { if (p.step === 3) controller.abort(); } }),
    TrainingCancelled,
  );
});

test('when the strategy needs a key and none is given, then training refuses to start', async () => {
  await assert.rejects(trainModel({ arch, strategy: 'delve', init, epochs: 1, trainData, testData, threads: 1 }), /needs a watermark key/);
});

test('when a committed key is re-drawn during training, then the model ends holding the last draw, read from the weights of that moment, and the key still derives from the commitment', async () => {
  const commitment = makeCommitment({ owner: 'test', subject: 'redraw', arch: arch.name, n: 256, allocation: policyRecord(defaults.key.allocation) });
  const planned = committedTraining(commitment, init, 'redraw');
  const totalSteps = Math.ceil(trainData.n / 100) * 2;
  const redrawStep = Math.round(0.75 * totalSteps);
  let before: ParamSet | undefined;
  const run = (redrawAt: number[]) => trainModel({
    arch, strategy: 'naive', init, epochs: 2, trainData, testData, threads: 1, lr: 0.05, batchSize: 100,
    plan: { ...planned, at: 0.25, redrawAt },
    checkpointEvery: 1,
    // The weights after `redrawStep` steps are the ones the re-draw reads (it runs before the next step).
    onCheckpoint: (step, set) => {
      if (step === redrawStep) before = { arch: arch.name, tensors: set.tensors.map((t) => ({ ...t, data: new Float32Array(t.data) })) };
    },
  });
  const once = await run([]);
  const again = await run([0.75]);
  for (const res of [once, again]) {
    const got = extractValues(res.params, res.key!);
    res.key!.values.forEach((v, i) => assert.equal(got[i], v, 'the model holds the key it returns'));
    assert.deepEqual(checkDerivation(res.key!, commitment), { ok: true });
  }
  assert.deepEqual(again.key!.flatIndex, once.key!.flatIndex, 'positions do not move');
  assert.notDeepEqual(again.key!.values, once.key!.values, 'values are drawn again');
  const expected = materializeKey(planned.plan, before!, { id: 'redraw', arch: arch.name, commitment: commitmentDigest(commitment) });
  assert.deepEqual(again.key!.values, expected.values, 'the last draw is the quantiles of the weights at 75% of the run');
  // Both runs share everything up to the first draw, so the anchor is the same.
  assert.deepEqual(again.anchor!.tensors.map((t) => Array.from(t.data)), once.anchor!.tensors.map((t) => Array.from(t.data)));
});
