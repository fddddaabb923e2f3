import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getArchitecture } from '../src/core/architectures.js';
import { alignToKey, normaliseName } from '../src/core/align/index.js';
import { chwFromHwc, embedKey, flattenChwToHwc, maxAbsDiff, randomParams, rngFrom, tinyConv, toTorch } from './align-helpers.js';

test('when names are spelled by different toolchains, then they normalise alike', () => {
  for (const n of ['conv1/kernel', 'conv1.weight', 'conv1/kernel:0', 'model/conv1/kernel', 'Conv1.Weight']) assert.equal(normaliseName(n), 'conv1/kernel');
  assert.equal(normaliseName('features.fc1.bias'), 'fc1/bias');
  assert.equal(normaliseName('onnx::Gemm_12'), 'onnx::gemm_12');
});

test('when HWC rows are put in CHW order and back, then the matrix is unchanged', () => {
  const m = { shape: [12, 2], data: Float32Array.from({ length: 24 }, (_, i) => i) };
  assert.deepEqual([...flattenChwToHwc(chwFromHwc(m, 3), 3).data], [...m.data]);
});

test('when a lenet5 model comes with PyTorch names and layouts, then every tensor is mapped by name back to ours', () => {
  const arch = getArchitecture('lenet5');
  const rng = rngFrom(1);
  const model = randomParams(arch, rng);
  const key = embedKey(model, 300, rng);
  const res = alignToKey(toTorch(model, arch), key);
  for (const t of model.tensors) assert.equal(maxAbsDiff(res.params.tensors.find((x) => x.name === t.name)!.data, t.data), 0, t.name);
  assert.ok(res.mapping.every((m) => m.method === 'name'));
  const fc1 = res.mapping.find((m) => m.keyTensor === 'fc1/kernel')!;
  assert.equal(fc1.suspectTensor, 'fc1.weight');
  assert.match(fc1.transform, /transpose\[1,0\].*flatten CHW→HWC/);
  assert.match(res.mapping.find((m) => m.keyTensor === 'conv2/kernel')!.transform, /transpose\[2,3,1,0\]/);
  assert.equal(res.comparisons, 1);
  assert.ok(res.notes.some((n) => /no reference/.test(n)));
});

test('when tfjs names carry a model prefix and a :0 suffix, then they map by name unchanged', () => {
  const rng = rngFrom(2);
  const model = randomParams(tinyConv, rng);
  const key = embedKey(model, 50, rng);
  const suspect = { tensors: model.tensors.map((t) => ({ ...t, name: `model/${t.name}:0` })) };
  const res = alignToKey(suspect, key);
  assert.ok(res.mapping.every((m) => m.method === 'name' && m.transform === 'identity'));
  for (const t of model.tensors) assert.equal(maxAbsDiff(res.params.tensors.find((x) => x.name === t.name)!.data, t.data), 0);
});

test('when a keyed tensor has no fitting tensor in the suspect, then alignment throws naming it and what the suspect has', () => {
  const rng = rngFrom(3);
  const model = randomParams(tinyConv, rng);
  const key = embedKey(model, 50, rng);
  const suspect = { tensors: model.tensors.filter((t) => t.name !== 'fc1/kernel') };
  assert.throws(() => alignToKey(suspect, key), (e: Error) => /'fc1\/kernel' \[24,12\]/.test(e.message) && /The suspect has: 'conv1\/kernel'/.test(e.message));
});

test('when the key covers only lenet5 fc1 and the model is PyTorch-shaped, then the architecture supplies the flatten order', () => {
  const arch = getArchitecture('lenet5');
  const rng = rngFrom(4);
  const model = randomParams(arch, rng);
  const full = embedKey(model, 300, rng);
  const fc1 = full.tensors.findIndex((t) => t.name === 'fc1/kernel');
  const keep = full.tensorIndex.map((t, i) => (t === fc1 ? i : -1)).filter((i) => i >= 0);
  const key = { ...full, tensors: [full.tensors[fc1]!], tensorIndex: keep.map(() => 0), flatIndex: keep.map((i) => full.flatIndex[i]!), values: keep.map((i) => full.values[i]!) };
  const res = alignToKey(toTorch(model, arch), key);
  assert.equal(maxAbsDiff(res.params.tensors[0]!.data, model.tensors.find((t) => t.name === 'fc1/kernel')!.data), 0);
  assert.match(res.mapping[0]!.transform, /flatten CHW→HWC/);
});
