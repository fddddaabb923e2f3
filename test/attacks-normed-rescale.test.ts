import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignToKey } from '../src/core/align/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { rescaleUnits } from '../src/attacks/units.js';
import { toParamSet } from '../src/training/train.js';
import { relErr, trainedLooking } from './engine-helpers.js';

const arch = getArchitecture('resnet32');

test('when ResNet-32\'s channels are rescaled with the batch norms absorbing the factors, then its logits stay and the reference undoes the scales for extraction', async () => {
  const clean = toParamSet(arch, trainedLooking(arch, 5));
  const key = generateKey(keyTargetsFromParamSet(clean), { seed: 'rescale-test', n: 512, arch: arch.name });
  const marked = embedValues(clean, key);
  const attacked = rescaleUnits(marked, arch, 4, 9).set;

  const x = Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.cos(i * 0.61));
  const before = await predictLogits(marked, arch, x);
  const after = await predictLogits(attacked, arch, x);
  assert.ok(relErr(after, before) < 1e-4, `function changed: ${relErr(after, before)}`);
  const k = (s: typeof marked) => s.tensors.find((t) => t.name === 'stage2/block3/conv1/kernel')!.data;
  assert.ok(relErr(k(attacked), k(marked)) > 0.1, 'the kernels moved');

  const deviation = (v: Float32Array) => key.values.reduce((m, kv, i) => Math.max(m, Math.abs(v[i]! - kv)), 0);
  assert.ok(deviation(extractValues(alignToKey(attacked, key).params, key)) > 0.01, 'without the reference the values are scaled');
  assert.ok(deviation(extractValues(alignToKey(attacked, key, { reference: clean }).params, key)) < 1e-4, 'with the reference they come back');
});

test('when an MLP is asked for the rescale attack, then the chain rescaling still runs (no batch norm needed)', () => {
  const mlp = getArchitecture('mlp');
  const set = toParamSet(mlp, trainedLooking(mlp, 1));
  const out = rescaleUnits(set, mlp, 2, 3).set;
  assert.equal(out.tensors.length, set.tensors.length);
});
