import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getArchitecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { alignToKey } from '../src/core/align/index.js';
import { embedKey, gauss, maxAbsDiff, obfuscate, randomParams, rngFrom, shuffled, tinyMlp, toTorch } from './align-helpers.js';

function renamedShuffled(set: ParamSet, seed: number): ParamSet {
  const rng = rngFrom(seed);
  return { tensors: shuffled(set.tensors, rng).map((t, i) => ({ ...t, name: `onnx::Gemm_${100 + i}` })) };
}

function assertSameValues(aligned: ParamSet, original: ParamSet, tol = 0): void {
  for (const t of original.tensors) assert.ok(maxAbsDiff(aligned.tensors.find((x) => x.name === t.name)!.data, t.data) <= tol, t.name);
}

test('when lenet5 tensors are renamed and shuffled, then each is found by its shape alone', () => {
  const arch = getArchitecture('lenet5');
  const rng = rngFrom(1);
  const model = randomParams(arch, rng);
  const key = embedKey(model, 200, rng);
  const res = alignToKey(renamedShuffled(toTorch(model, arch), 2), key);
  assertSameValues(res.params, model);
  assert.ok(res.mapping.every((m) => m.method === 'layout' && m.suspectTensor.startsWith('onnx::Gemm_')));
  assert.match(res.mapping.find((m) => m.keyTensor === 'fc1/kernel')!.transform, /flatten CHW→HWC/);
});

test('when tensors of one shape are renamed and shuffled, then with a reference they are told apart by content', () => {
  const rng = rngFrom(3);
  const ref = randomParams(tinyMlp, rng); // fc1 and fc2 kernels are both [16,16], their biases both [16]
  const key = embedKey(ref, 80, rng);
  const tuned: ParamSet = { tensors: ref.tensors.map((t) => ({ ...t, data: t.data.map((v) => v + 0.2 * Math.abs(v) * gauss(rng)) })) };
  const res = alignToKey(renamedShuffled(tuned, 4), key, { reference: ref, invariant: false });
  assertSameValues(res.params, tuned);
  for (const name of ['fc1/kernel', 'fc2/kernel', 'fc1/bias', 'fc2/bias']) assert.equal(res.mapping.find((m) => m.keyTensor === name)!.method, 'content');
  assert.ok(res.comparisons > 1);
});

test('when tensors of one shape are renamed and shuffled and no reference is given, then file order decides and says so', () => {
  const rng = rngFrom(5);
  const model = randomParams(tinyMlp, rng);
  const key = embedKey(model, 80, rng);
  const renamed: ParamSet = { tensors: model.tensors.map((t, i) => ({ ...t, name: `w${i}` })) };
  const res = alignToKey(renamed, key);
  assertSameValues(res.params, model);
  assert.equal(res.mapping.find((m) => m.keyTensor === 'fc2/kernel')!.method, 'order');
  assert.ok(res.notes.some((n) => /file order: .*'fc2\/kernel' ← 'w2'/.test(n)));
});

for (const dummies of [0, 3]) {
  test(`when same-shape layers are renamed, shuffled, permuted and rescaled${dummies ? ' with dummy neurons' : ''}, then the invariant stage finds the arrangement`, () => {
    const rng = rngFrom(7 + dummies);
    const ref = randomParams(tinyMlp, rng);
    const key = embedKey(ref, 80, rng);
    const suspect = renamedShuffled(obfuscate(ref, tinyMlp, rng, { permute: true, scaleRange: 3, dummies }), 8);
    const res = alignToKey(suspect, key, { reference: ref });
    for (const t of ref.tensors) {
      const a = res.params.tensors.find((x) => x.name === t.name)!;
      assert.ok(maxAbsDiff(a.data, t.data) < 1e-5, t.name);
    }
    assert.ok(res.notes.some((n) => /arrangements were realigned and the best kept/.test(n)), res.notes.join('\n'));
  });
}
