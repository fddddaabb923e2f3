import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { addDummyUnits, permuteUnits, rescaleUnits } from '../src/attacks/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { scoreWatermark } from '../src/core/score.js';
import { alignToKey } from '../src/core/align/index.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { readSafetensors } from '../src/formats/safetensors.js';

// PyTorch 1.13's torch.onnx.export of input_lenet5.safetensors (see test/fixtures/torch/README.md).
const dir = new URL('./fixtures/torch/', import.meta.url);
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)));
const ours = readSafetensors(file('input_lenet5.safetensors'));
const arch = getArchitecture('lenet5');
const key = generateKey(keyTargetsFromParamSet(ours), { seed: 'align-integration', n: 1024, arch: 'lenet5' });

test('when the PyTorch ONNX export of lenet5 is aligned to a key made for our layout, then it reads exactly our values', () => {
  const res = alignToKey(readOnnx(file('torch_lenet5.onnx')), key);
  assert.deepEqual([...extractValues(res.params, key)], [...extractValues(ours, key)]);
  for (const t of ours.tensors) assert.ok(res.params.tensors.find((x) => x.name === t.name)!.data.every((v, i) => Object.is(v, t.data[i])), t.name);
  assert.match(res.mapping.find((m) => m.keyTensor === 'fc1/kernel')!.transform, /flatten CHW→HWC/);
});

test('when the watermarked model goes through the attack library’s permutation, rescaling and dummy units, then alignment against the reference restores a perfect score', () => {
  const marked = embedValues(ours, key);
  const permuted = rescaleUnits(permuteUnits(marked, arch, 1, 1).set, arch, 8, 2);
  const before = scoreWatermark(extractValues(permuted.set, key), key.values);
  assert.ok(before.r < 0.2, `read as is, the permuted model scores r = ${before.r}`);
  const attacked = addDummyUnits(permuted.set, permuted.arch, 0.1, 3);
  const res = alignToKey(attacked.set, key, { reference: marked });
  const s = scoreWatermark(extractValues(res.params, key), key.values, { comparisons: res.comparisons });
  assert.ok(s.r > 0.999999, `r = ${s.r}`);
  assert.equal(s.decision, 'match');
  assert.ok(res.mapping.some((m) => /extra unit\(s\) dropped/.test(m.transform)));
});
