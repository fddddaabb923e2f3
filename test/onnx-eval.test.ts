import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activationShapes, getArchitecture, type Architecture } from '../src/core/architectures.js';
import { tensorByName, type ParamSet } from '../src/core/paramSet.js';
import { loadDataset } from '../src/data/datasets.js';
import { evaluateAccuracy, predictLogits } from '../src/eval/accuracy.js';
import { randomParamSet } from '../src/formats/onnx/samples.js';

/** The forward pass in plain loops, in our canonical layout (NHWC, HWIO, [in, out], HWC flatten). */
function referenceLogits(set: ParamSet, arch: Architecture, x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * arch.classes);
  const sample = x.length / n;
  for (let s = 0; s < n; s++) {
    let a = x.slice(s * sample, (s + 1) * sample);
    let [h, w, c] = arch.inputShape as readonly number[] as [number, number, number];
    const shapes = activationShapes(arch);
    arch.layers.forEach((layer, li) => {
      const next = shapes[li]!;
      if (layer.type === 'conv2d') {
        const k = tensorByName(set, `${layer.name}/kernel`).data;
        const b = tensorByName(set, `${layer.name}/bias`).data;
        const [oh, ow, oc] = next as [number, number, number];
        // TensorFlow 'same': total padding split with the extra row/column at the end.
        const padTop = layer.padding === 'same' ? Math.floor(Math.max((oh - 1) * layer.stride + layer.kernel - h, 0) / 2) : 0;
        const padLeft = layer.padding === 'same' ? Math.floor(Math.max((ow - 1) * layer.stride + layer.kernel - w, 0) / 2) : 0;
        const y = new Float32Array(oh * ow * oc);
        for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < oc; o++) {
          let acc = b[o]!;
          for (let di = 0; di < layer.kernel; di++) for (let dj = 0; dj < layer.kernel; dj++) for (let ci = 0; ci < c; ci++) {
            const r = i * layer.stride + di - padTop;
            const q = j * layer.stride + dj - padLeft;
            if (r < 0 || r >= h || q < 0 || q >= w) continue;
            acc += a[(r * w + q) * c + ci]! * k[((di * layer.kernel + dj) * c + ci) * oc + o]!;
          }
          y[(i * ow + j) * oc + o] = layer.activation === 'relu' ? Math.max(0, acc) : acc;
        }
        a = y; [h, w, c] = [oh, ow, oc];
      } else if (layer.type === 'maxPool') {
        const [oh, ow] = next as [number, number, number];
        const y = new Float32Array(oh * ow * c).fill(-Infinity);
        for (let i = 0; i < oh * layer.size; i++) for (let j = 0; j < ow * layer.size; j++) for (let ci = 0; ci < c; ci++) {
          const o = (Math.floor(i / layer.size) * ow + Math.floor(j / layer.size)) * c + ci;
          y[o] = Math.max(y[o]!, a[(i * w + j) * c + ci]!);
        }
        a = y; [h, w] = [oh, ow];
      } else if (layer.type === 'dense') {
        const k = tensorByName(set, `${layer.name}/kernel`).data;
        const b = tensorByName(set, `${layer.name}/bias`).data;
        const y = new Float32Array(layer.units);
        for (let o = 0; o < layer.units; o++) {
          let acc = b[o]!;
          for (let i = 0; i < a.length; i++) acc += a[i]! * k[i * layer.units + o]!;
          y[o] = layer.activation === 'relu' ? Math.max(0, acc) : acc;
        }
        a = y;
      }
    });
    out.set(a, s * arch.classes);
  }
  return out;
}

function randomInputs(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 784 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 0.5);
}

describe('ONNX evaluation through onnxruntime-node', () => {
  for (const name of ['lenet5', 'mlp']) {
    it(`when a random ${name} param set is exported and run, then its logits equal a plain-loop reference within 1e-4`, async (t) => {
      const arch = getArchitecture(name);
      const set = randomParamSet(arch, 11);
      const x = randomInputs(4, 3);
      const got = await predictLogits(set, arch, x, { batchSize: 3 });
      const want = referenceLogits(set, arch, x, 4);
      assert.equal(got.length, want.length);
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
      t.diagnostic(`max |onnx - reference| = ${maxDiff.toExponential(2)}`);
      assert.ok(maxDiff < 1e-4, `max |onnx - reference| = ${maxDiff}`);
      assert.ok(want.some((v) => Math.abs(v) > 0.1), 'reference logits are not all near zero');
    });
  }

  it('when an architecture outside the registry (same padding, stride 2, two convs) is exported, then it matches the reference too', async (t) => {
    const arch: Architecture = {
      name: 'custom', description: 'test only', inputShape: [28, 28, 1], classes: 10,
      layers: [
        { type: 'conv2d', name: 'c1', filters: 6, kernel: 4, stride: 2, padding: 'same', activation: 'relu' },
        { type: 'conv2d', name: 'c2', filters: 8, kernel: 3, stride: 1, padding: 'same', activation: 'none' },
        { type: 'maxPool', size: 3 },
        { type: 'flatten' },
        { type: 'dense', name: 'out', units: 10, activation: 'none' },
      ],
    };
    const set = randomParamSet(arch, 9);
    const x = randomInputs(2, 8);
    const got = await predictLogits(set, arch, x);
    const want = referenceLogits(set, arch, x, 2);
    const maxDiff = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
    t.diagnostic(`max |onnx - reference| = ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff < 1e-4, `max |onnx - reference| = ${maxDiff}`);
  });

  it('when accuracy is measured on MNIST images, then it counts the samples whose argmax logit is the label', async () => {
    const arch = getArchitecture('lenet5');
    const set = randomParamSet(arch, 5);
    const data = loadDataset('mnist', 'test', { limit: 64 });
    const logits = referenceLogits(set, arch, data.x, data.n);
    let correct = 0;
    for (let i = 0; i < data.n; i++) {
      const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === data.y[i]) correct++;
    }
    const result = await evaluateAccuracy(set, arch, data, { batchSize: 20 });
    assert.equal(result.n, 64);
    assert.equal(result.correct, correct);
    assert.equal(result.accuracy, correct / 64);
  });

  it('when x does not match n, then evaluateAccuracy refuses before running', async () => {
    const arch = getArchitecture('mlp');
    await assert.rejects(
      evaluateAccuracy(randomParamSet(arch, 1), arch, { n: 3, x: new Float32Array(784 * 2), y: new Uint8Array(3) }),
      /n = 3/,
    );
  });
});
