import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignToKey } from '../src/core/align/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { getAttack } from '../src/attacks/index.js';
import { permuteUnits, rescaleUnits } from '../src/attacks/units.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { toParamSet } from '../src/training/train.js';
import { relErr, trainedLooking } from './engine-helpers.js';

const arch = getArchitecture('resnet32');

const clean = toParamSet(arch, trainedLooking(arch, 5));
const key = generateKey(keyTargetsFromParamSet(clean), { seed: 'normed-units-test', n: 512, arch: arch.name });
const marked = embedValues(clean, key);
const x = Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.cos(i * 0.61));
const deviation = (v: Float32Array) => key.values.reduce((m, kv, i) => Math.max(m, Math.abs(v[i]! - kv)), 0);
const kernel = (s: typeof marked, name: string) => s.tensors.find((t) => t.name === name)!.data;

const attacks = [
  ['rescaled (the norms absorbing the factors)', () => rescaleUnits(marked, arch, 4, 9).set],
  ['permuted (every block\'s private channels and every stage\'s residual stream)', () => permuteUnits(marked, arch, 1, 9).set],
  ['permuted and rescaled', () => rescaleUnits(permuteUnits(marked, arch, 1, 9).set, arch, 4, 10).set],
] as const;

for (const [what, attack] of attacks) {
  test(`when ResNet-32's channels are ${what}, then its logits stay and the reference undoes it for extraction`, async () => {
    const attacked = attack();
    const before = await predictLogits(marked, arch, x);
    const after = await predictLogits(attacked, arch, x);
    assert.ok(relErr(after, before) < 1e-4, `function changed: ${relErr(after, before)}`);
    assert.ok(relErr(kernel(attacked, 'stage2/block3/conv1/kernel'), kernel(marked, 'stage2/block3/conv1/kernel')) > 0.1, 'the kernels moved');
    if (what.startsWith('permuted')) {
      // The residual streams moved too: the stem's outputs (stage 1's stream) and the head's inputs (stage 3's).
      for (const name of ['conv1/kernel', 'fc/kernel']) assert.ok(relErr(kernel(attacked, name), kernel(marked, name)) > 0.1, `${name} moved`);
    }
    assert.ok(deviation(extractValues(alignToKey(attacked, key).params, key)) > 0.01, 'without the reference the values are off');
    assert.ok(deviation(extractValues(alignToKey(attacked, key, { reference: clean, invariant: false }).params, key)) > 0.01, 'plain alignment (names and layouts) leaves them off too');
    const aligned = alignToKey(attacked, key, { reference: clean });
    assert.ok(deviation(extractValues(aligned.params, key)) < 1e-4, `with the reference they come back: ${aligned.notes.join('; ')}`);
  });
}

test('when unrelated ResNet-32s are permuted and rescaled, then realigning them against the reference manufactures no match', () => {
  // The unit matching and the scales never read the keyed positions, so an unrelated model's values there stay unrelated to the key.
  const pValues = [11, 12, 13, 14, 15].map((seed) => {
    const other = toParamSet(arch, trainedLooking(arch, seed));
    const attacked = rescaleUnits(permuteUnits(other, arch, 1, seed).set, arch, 4, seed).set;
    const aligned = alignToKey(attacked, key, { reference: clean });
    return scoreAgainstKey(extractValues(aligned.params, key), key, { comparisons: aligned.comparisons }).pValue;
  });
  assert.ok(pValues.every((p) => p > 0.01), `p-values ${pValues.map((p) => p.toPrecision(2)).join(', ')}`);
});

test('when an MLP is asked for the rescale attack, then the chain rescaling still runs (no batch norm needed)', () => {
  const mlp = getArchitecture('mlp');
  const set = toParamSet(mlp, trainedLooking(mlp, 1));
  const out = rescaleUnits(set, mlp, 2, 3).set;
  assert.equal(out.tensors.length, set.tensors.length);
});

test('when a CIFAR network is asked to be fine-tuned on Fashion-MNIST, then the attack says the shapes differ before any training', async () => {
  const attack = getAttack('fine-tune-fashion');
  await assert.rejects(attack.run(clean, arch, 1, { seed: 1, train: async () => assert.fail('no training may start') }), /fine-tuning on fashion-mnist needs 28x28x1 inputs; resnet32 takes 32x32x3 \(cifar10\)/);
});
