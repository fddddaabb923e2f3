/**
 * ALL-CNN-C is a chain once dropout (the identity at inference) is skipped and its global average pool
 * (per channel) is read like a flatten of 1x1 maps: the chain re-wirings and the chain's invariant
 * re-alignment apply to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignToKey } from '../src/core/align/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { addDummyUnits, hiddenLinks, permuteUnits, rescaleUnits } from '../src/attacks/units.js';
import { toParamSet } from '../src/training/train.js';
import { relErr, trainedLooking } from './engine-helpers.js';

const arch = getArchitecture('allcnnc');
const clean = toParamSet(arch, trainedLooking(arch, 6));
const key = generateKey(keyTargetsFromParamSet(clean), { seed: 'allcnnc-units', n: 512, arch: arch.name });
const marked = embedValues(clean, key);
const x = Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.29));
const deviation = (v: Float32Array) => key.values.reduce((m, kv, i) => Math.max(m, Math.abs(v[i]! - kv)), 0);

test('when ALL-CNN-C\'s hidden layers are listed for re-wiring, then all eight feed the next conv through dropout and 1x1 convs', () => {
  assert.deepEqual(hiddenLinks(arch).map((l) => `${l.layer.name}>${l.next.name}:${l.positions}`), [
    'conv1>conv2:9', 'conv2>conv3:9', 'conv3>conv4:9', 'conv4>conv5:9', 'conv5>conv6:9', 'conv6>conv7:9', 'conv7>conv8:1', 'conv8>conv9:1',
  ]);
});

const attacks = [
  ['permuted', () => permuteUnits(marked, arch, 1, 3)],
  ['rescaled', () => rescaleUnits(marked, arch, 4, 3)],
  ['widened with dummy units', () => addDummyUnits(marked, arch, 0.25, 3)],
] as const;

for (const [what, attack] of attacks) {
  test(`when ALL-CNN-C's units are ${what}, then its logits stay and the reference realigns the key values`, async () => {
    const attacked = attack();
    const before = await predictLogits(marked, arch, x);
    const after = await predictLogits(attacked.set, attacked.arch, x);
    assert.ok(relErr(after, before) < 1e-4, `function changed: ${relErr(after, before)}`);
    const aligned = alignToKey(attacked.set, key, { reference: clean, arch });
    assert.ok(deviation(extractValues(aligned.params, key)) < 1e-4, aligned.notes.join('; '));
  });
}
