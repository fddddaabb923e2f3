import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationShapes, architectureNames, architectureOf, findArchitecture, registerArchitecture, chainLayers, getArchitecture, isChain, keyableTensors, layerInputs, paramSpecs, trainableParameterCount, type Architecture } from '../src/core/architectures.js';
import { initParams } from '../src/core/init.js';
import { defaultDatasetFor } from '../src/data/datasets.js';

test('when the registry is asked for the paper\'s networks, then their parameter counts are PyTorch\'s for the same networks', () => {
  // PyTorch's sum(p.numel() for p in model.parameters()) for the twins in ../shared/anchors/torch_cifar.py
  assert.equal(trainableParameterCount(getArchitecture('resnet32')), 464_154);
  assert.equal(trainableParameterCount(getArchitecture('allcnnc')), 1_369_738);
  assert.equal(trainableParameterCount(getArchitecture('lenet5')), 431_080);
  assert.equal(trainableParameterCount(getArchitecture('mlp')), 266_610);
});

test('when ResNet-32 is laid out, then its stages halve the resolution, its shortcuts pad the channels, and only conv and dense tensors take keys', () => {
  const a = getArchitecture('resnet32');
  const shapes = activationShapes(a);
  const at = (name: string) => shapes[a.layers.findIndex((l) => l.name === name)]!;
  assert.deepEqual(at('stage1/block5/add'), [32, 32, 16]);
  assert.deepEqual(at('stage2/block1/shortcut'), [16, 16, 32]);
  assert.deepEqual(at('stage3/block5/add'), [8, 8, 64]);
  assert.deepEqual(shapes.at(-1), [10]);
  // 31 convolutions and the dense layer; every block's add reads the stream of the block before it
  const specs = paramSpecs(a);
  assert.equal(new Set(specs.filter((s) => s.keyable).map((s) => s.layer)).size, 32);
  assert.equal(specs.filter((s) => s.role === 'movingVariance').length, 31);
  const inputs = layerInputs(a);
  const add = a.layers.findIndex((l) => l.name === 'stage1/block2/add');
  assert.deepEqual(inputs[add]!.map((j) => a.layers[j]!.name), ['stage1/block2/bn2', 'stage1/block1/add']);
  const names = specs.map((s) => s.name);
  assert.deepEqual(keyableTensors('resnet32', names.map((name) => ({ name }))).map((t) => t.name), specs.filter((s) => s.keyable).map((s) => s.name));
  assert.equal(keyableTensors(undefined, [{ name: 'bn/gamma' }]).length, 1, 'an unknown model: every tensor may be keyed');
  // batch norm starts as the identity: scale 1, shift 0, running variance 1
  const init = initParams(a, 1);
  specs.forEach((s, i) => {
    if (s.role === 'gamma' || s.role === 'movingVariance') assert.ok(init[i]!.every((v) => v === 1), s.name);
    if (s.role === 'beta' || s.role === 'movingMean') assert.ok(init[i]!.every((v) => v === 0), s.name);
  });
});

test('when code that understands only chains meets a graph, then it says which layer it cannot take', () => {
  assert.equal(isChain(getArchitecture('lenet5')), true);
  assert.equal(isChain(getArchitecture('resnet32')), false);
  assert.throws(() => chainLayers(getArchitecture('resnet32'), 'The ONNX writer'), /The ONNX writer supports plain chains .* resnet32 has conv2d layer without a bias conv1/);
  assert.throws(() => chainLayers(getArchitecture('allcnnc'), 'Unit re-wiring'), /allcnnc has dropout layer #0/);
});

test('when a graph is miswired, then the registry names the layer and what is wrong', () => {
  const bad = (layers: Architecture['layers']): Architecture => ({ name: 'bad', description: '', inputShape: [8, 8, 3], classes: 2, layers });
  assert.throws(() => layerInputs(bad([{ type: 'add', name: 'a', inputs: ['input', 'later'], activation: 'none' }])), /layer a reads 'later', which is not an earlier layer/);
  assert.throws(() => activationShapes(bad([{ type: 'conv2d', name: 'c', filters: 4, kernel: 3, stride: 2, padding: 1, activation: 'none' }, { type: 'add', name: 'a', inputs: ['input', 'c'], activation: 'none' }])), /layer a adds inputs of shapes \[8, 8, 3\] and \[4, 4, 4\]/);
  assert.throws(() => activationShapes(bad([{ type: 'dense', name: 'd', units: 2, activation: 'none' }])), /layer d needs a vector input/);
  assert.throws(() => layerInputs(bad([{ type: 'flatten', name: 'x' }, { type: 'flatten', name: 'x' }])), /two layers are called 'x'/);
});

test('when a model does not name its architecture, then the one its tensors fit exactly is found, and the dataset its input fits', () => {
  for (const name of ['lenet5', 'mlp', 'resnet32', 'allcnnc']) {
    const a = getArchitecture(name);
    assert.equal(architectureOf(paramSpecs(a))?.name, name);
  }
  const specs = paramSpecs(getArchitecture('resnet32'));
  assert.equal(architectureOf(specs.slice(1)), undefined, 'a tensor missing');
  assert.equal(architectureOf(specs.map((s, i) => (i === 0 ? { ...s, shape: [1, 1, 3, 16] } : s))), undefined, 'a shape differs');
  assert.equal(defaultDatasetFor(getArchitecture('resnet32').inputShape), 'cifar10');
  assert.equal(defaultDatasetFor(getArchitecture('lenet5').inputShape), 'mnist');
});

test('when an imported architecture is registered, then it resolves by name; again (keys in any order) is a no-op; another network under its name or a built-in name is refused', () => {
  const arch: Architecture = {
    name: 'onnx-000000000001', description: 'test', inputShape: [4, 4, 1], classes: 2,
    layers: [{ type: 'flatten', name: 'flatten1' }, { type: 'dense', name: 'fc1', units: 2, activation: 'none' }],
  };
  assert.equal(findArchitecture(arch.name), undefined);
  registerArchitecture(arch);
  assert.equal(getArchitecture(arch.name), arch);
  registerArchitecture(JSON.parse(JSON.stringify({ layers: arch.layers, classes: 2, inputShape: [4, 4, 1], description: 'test', name: arch.name })));
  assert.throws(() => registerArchitecture({ ...arch, classes: 3 }), /'onnx-000000000001' is already registered as another architecture/);
  assert.throws(() => registerArchitecture({ ...arch, name: 'lenet5' }), /'lenet5' is a built-in architecture/);
  assert.ok(!architectureNames().includes(arch.name), 'imported architectures are not offered for training from scratch');
});
