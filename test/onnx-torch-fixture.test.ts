import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { tensorByName, type ParamSet, type ParamTensor } from '../src/core/paramSet.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { readSafetensors } from '../src/formats/safetensors.js';

// Made by scripts/make_torch_fixtures.py (PyTorch 1.13, torch.onnx.export) from input_lenet5.safetensors.
const dir = new URL('./fixtures/torch/', import.meta.url);
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)));
const ours = readSafetensors(file('input_lenet5.safetensors'));
const torchReference = JSON.parse(readFileSync(new URL('torch_reference.json', dir), 'utf8')) as { logits: number[]; inputShapeNCHW: number[] };
const oursReference = JSON.parse(readFileSync(new URL('ours_logits.json', dir), 'utf8')) as { inputs: number[]; logits: number[] };

/** Permutes a row-major tensor: out axis i is in axis perm[i]. */
function transpose(t: ParamTensor, perm: readonly number[]): { shape: number[]; data: Float32Array } {
  const shape = perm.map((p) => t.shape[p]!);
  const inStrides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const data = new Float32Array(t.data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let i = 0; i < shape.length; i++) src += idx[i]! * inStrides[perm[i]!]!;
    data[o] = t.data[src]!;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
  return { shape, data };
}

/** The documented conversion our layout → PyTorch's: HWIO→OIHW, [in,out]→[out,in], fc1 rows HWC→CHW. */
function expectedTorchTensors(set: ParamSet): Map<string, { shape: number[]; data: Float32Array }> {
  const fc1 = tensorByName(set, 'fc1/kernel');
  const fc1Chw = transpose({ ...fc1, shape: [4, 4, 50, 500] }, [2, 0, 1, 3]);
  const plain = (n: string) => ({ shape: [...tensorByName(set, n).shape], data: tensorByName(set, n).data });
  return new Map([
    ['conv1.weight', transpose(tensorByName(set, 'conv1/kernel'), [3, 2, 0, 1])],
    ['conv1.bias', plain('conv1/bias')],
    ['conv2.weight', transpose(tensorByName(set, 'conv2/kernel'), [3, 2, 0, 1])],
    ['conv2.bias', plain('conv2/bias')],
    ['fc1.weight', transpose({ name: 'fc1', shape: [800, 500], data: fc1Chw.data }, [1, 0])],
    ['fc1.bias', plain('fc1/bias')],
    ['fc2.weight', transpose(tensorByName(set, 'fc2/kernel'), [1, 0])],
    ['fc2.bias', plain('fc2/bias')],
  ]);
}

describe('ONNX files exported by PyTorch', () => {
  it('when the PyTorch ONNX export is read, then every tensor equals the input param set after the known layout conversion', () => {
    const read = readOnnx(file('torch_lenet5.onnx'));
    const expected = expectedTorchTensors(ours);
    assert.deepEqual(read.tensors.map((t) => t.name).sort(), [...expected.keys()].sort());
    for (const t of read.tensors) {
      const e = expected.get(t.name)!;
      assert.deepEqual([...t.shape], e.shape, t.name);
      assert.ok(t.data.every((v, i) => Object.is(v, e.data[i])), `${t.name}: values differ`);
    }
  });

  it('when the PyTorch safetensors file is read, then it holds the same tensors as the ONNX export', () => {
    const onnx = readOnnx(file('torch_lenet5.onnx'));
    const st = readSafetensors(file('torch_lenet5.safetensors'));
    for (const t of onnx.tensors) assert.deepEqual(tensorByName(st, t.name).data, t.data, t.name);
  });

  it('when onnxruntime runs the PyTorch export, then its logits equal PyTorch\'s and ours within 1e-4', async () => {
    const session = await ort.InferenceSession.create(file('torch_lenet5.onnx'), { intraOpNumThreads: 2 });
    const x = new ort.Tensor('float32', Float32Array.from(oursReference.inputs), torchReference.inputShapeNCHW);
    const got = (await session.run({ input: x })).logits!.data as Float32Array;
    await session.release();
    const diff = (a: ArrayLike<number>) => Math.max(...Array.from(got, (v, i) => Math.abs(v - a[i]!)));
    assert.ok(diff(torchReference.logits) < 1e-4, `vs PyTorch: ${diff(torchReference.logits)}`);
    assert.ok(diff(oursReference.logits) < 1e-4, `vs ours: ${diff(oursReference.logits)}`);
  });
});
