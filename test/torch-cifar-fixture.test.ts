/**
 * ResNet-32 from another toolchain: test/fixtures/torch-cifar holds a watermarked ResNet-32 of ours
 * (`ours/`) and what PyTorch 1.13 made of it (scripts/make_cifar_torch_fixtures.py): its state_dict as
 * safetensors (PyTorch names and layouts, num_batches_tracked as I64) and torch.onnx.export in eval
 * mode, which folds every batch norm into the conv before it and renames the tensors onnx::Conv_*.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { alignToKey } from '../src/core/align/index.js';
import { extractValues } from '../src/core/extract.js';
import { parseKey } from '../src/core/keygen.js';
import { loadModel } from '../src/cli/modelFiles.js';
import { getArchitecture } from '../src/core/architectures.js';
import { asCanonical } from '../src/formats/onnx/layout.js';

const dir = fileURLToPath(new URL('./fixtures/torch-cifar/', import.meta.url));
const key = parseKey(JSON.parse(readFileSync(`${dir}ours/key.json`, 'utf8')));
const ours = loadModel(`${dir}ours`, 'resnet32').params;
const reference = JSON.parse(readFileSync(`${dir}torch_reference.json`, 'utf8')) as { inputs: number[]; logits: number[]; inputShapeNCHW: number[] };

/** Largest |extracted − key value| over the key's positions (the values' median magnitude is about 0.03). */
function worstDeviation(values: Float32Array): number {
  return key.values.reduce((m, v, i) => Math.max(m, Math.abs(values[i]! - v)), 0);
}

test('when onnxruntime runs PyTorch\'s BN-folded export, then it gives PyTorch\'s logits (the twin, our layouts and names agree)', async () => {
  const session = await ort.InferenceSession.create(`${dir}torch_resnet32_folded.onnx`);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(reference.inputs), reference.inputShapeNCHW) });
  const logits = out['logits']!.data as Float32Array;
  const diff = reference.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - logits[i]!)), 0);
  assert.ok(diff < 1e-4, `max |diff| ${diff}`);
  await session.release();
});

test('when PyTorch\'s state_dict (safetensors) is the suspect, then every key value comes back exactly', () => {
  const suspect = loadModel(`${dir}torch_resnet32.safetensors`).params;
  assert.ok(suspect.tensors.some((t) => t.name === 'stage1.block1.bn1.num_batches_tracked'), 'the I64 counters are read too');
  const aligned = alignToKey(suspect, key);
  assert.equal(worstDeviation(extractValues(aligned.params, key)), 0);
  // read as ResNet-32 in our layout (the counters are PyTorch's bookkeeping, not parameters): every tensor bit for bit ours
  const canonical = asCanonical(suspect.tensors, getArchitecture('resnet32'), 'standard');
  assert.ok(canonical, 'a PyTorch state_dict with num_batches_tracked reads as the architecture');
  for (const t of canonical.tensors) {
    const mine = ours.tensors.find((o) => o.name === t.name)!;
    assert.deepEqual(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), new Uint32Array(mine.data.buffer, mine.data.byteOffset, mine.data.length), t.name);
  }
});

test('when the BN-folded export is the suspect, then the reference undoes each channel\'s scale and the key values come back', () => {
  const suspect = loadModel(`${dir}torch_resnet32_folded.onnx`).params;
  assert.ok(suspect.tensors.every((t) => !/bn/.test(t.name)), 'no batch-norm tensor survives the export');
  const blind = extractValues(alignToKey(suspect, key).params, key);
  const withRef = alignToKey(suspect, key, { reference: ours });
  const restored = extractValues(withRef.params, key);
  // Folding scales each output channel by γ/√(var + ε): without the reference the values are off by those factors.
  assert.ok(worstDeviation(blind) > 0.01, `without the reference the folded values deviate by ${worstDeviation(blind)}`);
  // What is left is float32 rounding of the fold (W·s rounded, then s estimated from the channel's other weights).
  assert.ok(worstDeviation(restored) < 1e-4, `with the reference: ${worstDeviation(restored)}`);
  assert.ok(withRef.notes.some((n) => /scaled per output unit against the reference/.test(n)), withRef.notes.join('\n'));
});

// ALL-CNN-C (no batch norm): ours_allcnnc/ and PyTorch's state_dict and eval-mode export of its twin.
const allcnnc = getArchitecture('allcnnc');
const allKey = parseKey(JSON.parse(readFileSync(`${dir}ours_allcnnc/key.json`, 'utf8')));
const allOurs = loadModel(`${dir}ours_allcnnc`, 'allcnnc').params;
const allRef = JSON.parse(readFileSync(`${dir}torch_allcnnc_reference.json`, 'utf8')) as { inputs: number[]; logits: number[]; inputShapeNCHW: number[] };

test('when onnxruntime runs PyTorch\'s ALL-CNN-C export, then it gives PyTorch\'s logits', async () => {
  const session = await ort.InferenceSession.create(`${dir}torch_allcnnc.onnx`);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(allRef.inputs), allRef.inputShapeNCHW) });
  const logits = out['logits']!.data as Float32Array;
  assert.ok(allRef.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - logits[i]!)), 0) < 1e-4);
  await session.release();
});

for (const file of ['torch_allcnnc.safetensors', 'torch_allcnnc.onnx']) {
  test(`when PyTorch's ALL-CNN-C (${file}) is the suspect, then it reads as the architecture bit for bit and every key value comes back exactly`, () => {
    const suspect = loadModel(`${dir}${file}`).params;
    const canonical = file.endsWith('.onnx') ? suspect : asCanonical(suspect.tensors, allcnnc, 'standard');
    assert.ok(canonical, 'a PyTorch state_dict of the twin reads as ALL-CNN-C');
    const extracted = extractValues(alignToKey(suspect, allKey).params, allKey);
    assert.equal(allKey.values.reduce((m, v, i) => Math.max(m, Math.abs(extracted[i]! - v)), 0), 0);
    for (const t of (asCanonical(suspect.tensors, allcnnc, 'standard') ?? canonical).tensors) {
      const mine = allOurs.tensors.find((o) => o.name === t.name)!;
      const bytes = (d: Float32Array) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      assert.ok(bytes(t.data).equals(bytes(mine.data)), `${t.name} differs from ours`);
    }
  });
}
