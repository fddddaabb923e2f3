import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getArchitecture } from '../src/core/architectures.js';
import { alignToKey } from '../src/core/align/index.js';
import { extractValues } from '../src/core/extract.js';
import { parseKey } from '../src/core/keygen.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { readModel, writeModel, type WriteFormat } from '../src/formats/index.js';
import type { ModelFile } from '../src/formats/types.js';

// A LeNet5 trained with the naive strategy on full MNIST (99.4%), and one trained without the key;
// the torch_* files were made from them by PyTorch (scripts/make_torch_fixtures.py).
const arch = getArchitecture('lenet5');
const dir = new URL('./fixtures/torch/', import.meta.url);
const bytes = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const key = parseKey(JSON.parse(readFileSync(new URL('key.json', dir), 'utf8')));

function variants(sub: string): [string, ModelFile[]][] {
  const own = readModel([{ name: 'input_lenet5.safetensors', bytes: bytes(`${sub}input_lenet5.safetensors`) }]).params;
  const ours = (format: WriteFormat) => writeModel({ ...own, arch: 'lenet5' }, format, arch);
  return [
    ['TensorFlow.js (ours)', ours('tfjs')],
    ['ONNX (ours, standard: NCHW, PyTorch layout)', ours('onnx')],
    ['ONNX (ours, NHWC)', ours('onnx-nhwc')],
    ['ONNX (PyTorch exporter)', [{ name: 'm.onnx', bytes: bytes(`${sub}torch_lenet5.onnx`) }]],
    ['safetensors (PyTorch layout)', [{ name: 'm.safetensors', bytes: bytes(`${sub}torch_lenet5.safetensors`) }]],
    ['npz (PyTorch layout, np.savez_compressed)', [{ name: 'm.npz', bytes: bytes(`${sub}torch_lenet5.npz`) }]],
    ['npz (ours)', ours('npz')],
  ];
}

const reference: ParamSet = readModel([{ name: 'input_lenet5.safetensors', bytes: bytes('input_lenet5.safetensors') }]).params;

function verify(files: ModelFile[]) {
  const { params } = readModel(files);
  const aligned = alignToKey(params, key, { reference, arch });
  return scoreAgainstKey(extractValues(aligned.params, key), key, { comparisons: aligned.comparisons });
}

for (const [label, files] of variants('')) {
  test(`when the watermarked LeNet5 arrives as ${label}, then the mark is found (r ≥ 0.999, match)`, () => {
    const s = verify(files);
    assert.ok(s.r >= 0.999, `r = ${s.r}`);
    assert.equal(s.decision, 'match');
  });
}

for (const [label, files] of variants('independent/')) {
  test(`when an independently trained LeNet5 arrives as ${label}, then it does not match (p > 0.01)`, () => {
    const s = verify(files);
    assert.ok(s.pValue > 0.01, `p = ${s.pValue}, r = ${s.r}`);
    assert.equal(s.decision, 'no match');
  });
}

test('when the tensors are renamed and shuffled, then the watermark is still found', () => {
  const { params } = readModel([{ name: 'm.safetensors', bytes: bytes('torch_lenet5.safetensors') }]);
  const shuffled: ParamSet = { tensors: [...params.tensors].reverse().map((t, i) => ({ ...t, name: `layer_${(i * 7) % 11}.param` })) };
  const aligned = alignToKey(shuffled, key, { reference, arch });
  const s = scoreAgainstKey(extractValues(aligned.params, key), key, { comparisons: aligned.comparisons });
  assert.ok(s.r >= 0.999, `r = ${s.r}`);
  assert.equal(s.decision, 'match');
});
