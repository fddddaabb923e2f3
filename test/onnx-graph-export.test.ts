import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getArchitecture, paramSpecs } from '../src/core/architectures.js';
import { initParams } from '../src/core/init.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { writeOnnx } from '../src/formats/onnx/write.js';
import { createGradientEngine } from '../src/training/engine.js';
import { toParamSet } from '../src/training/train.js';
import { relErr, trainedLooking } from './engine-helpers.js';


for (const name of ['resnet32', 'allcnnc']) {
  test(`when ${name} is exported as standard ONNX, then onnxruntime gives the engine's logits and the file reads back bit for bit`, async () => {
    const arch = getArchitecture(name);
    const params = trainedLooking(arch, 4);
    const set = toParamSet(arch, params);
    const n = 3;
    const x = Float32Array.from({ length: n * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.37));
    const viaFile = await predictLogits(set, arch, x);
    const engine = await createGradientEngine(arch, { backend: 'wasm', threads: 1 });
    const viaEngine = await engine.predict(params, x, n);
    await engine.dispose();
    assert.ok(relErr(viaFile, viaEngine) < 1e-4, `relative difference ${relErr(viaFile, viaEngine)}`);

    const bytes = writeOnnx(set, arch);
    const stored = readOnnx(bytes, { asStored: true });
    const names = stored.tensors.map((t) => t.name);
    if (name === 'resnet32') {
      for (const n of ['conv1.weight', 'bn1.running_var', 'stage1.block1.conv1.weight', 'stage3.block5.bn2.running_mean', 'fc.weight']) assert.ok(names.includes(n), `${n} in ${names.slice(0, 8).join(', ')}…`);
      assert.deepEqual(stored.tensors.find((t) => t.name === 'stage2.block1.conv1.weight')!.shape, [32, 16, 3, 3]);
    }
    const back = readOnnx(bytes);
    assert.equal(back.tensors.length, params.length);
    back.tensors.forEach((t, i) => {
      assert.equal(t.name, paramSpecs(arch)[i]!.name);
      assert.deepEqual(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), new Uint32Array(params[i]!.buffer));
    });
  });
}

test('when a graph network is asked for the NHWC ONNX layout, then the writer names the layer it cannot hold', () => {
  const arch = getArchitecture('resnet32');
  assert.throws(() => writeOnnx(toParamSet(arch, initParams(arch, 1)), arch, { layout: 'nhwc' }), /batchNorm|chain/i);
});
