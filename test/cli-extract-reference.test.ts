import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExtract } from '../src/cli/localCommands.js';
import { loadKeyFile, loadModel, loadReference } from '../src/cli/modelFiles.js';
import { alignToKey } from '../src/core/align/index.js';
import { extractValues } from '../src/core/extract.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { getAttack } from '../src/attacks/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { readModel, writeModel } from '../src/formats/index.js';
import { captured } from './cli-helpers.js';
import { tempDir } from './http-helpers.js';

// PyTorch's own files (test/fixtures/torch): the same LeNet5 as input_lenet5.safetensors, in PyTorch
// names and layouts, and the key whose values those weights carry.
const fixtures = new URL('./fixtures/torch/', import.meta.url).pathname;
const key = join(fixtures, 'key.json');
const ptFixture = (name: string) => new URL(`./fixtures/pt/${name}`, import.meta.url).pathname;
const dir = tempDir('extract-ref');
const lenet5 = getArchitecture('lenet5');
const ours = { ...readModel([{ name: 'input_lenet5.safetensors', bytes: readFileSync(join(fixtures, 'input_lenet5.safetensors')) }]).params, arch: 'lenet5' };

/** A neuron-permuted copy of the marked model: only a reference lets extract put the units back in order. */
async function permutedSuspect(): Promise<string> {
  const file = join(dir, 'permuted.safetensors');
  const { set } = await getAttack('permute').run(ours, lenet5, 1, { seed: 5 });
  writeFileSync(file, writeModel(set, 'safetensors')[0]!.bytes);
  return file;
}

const extract = async (args: string[]) => JSON.parse((await captured(() => runExtract(['--key', key, '--json', ...args]))).out) as { r: number; decision: string; alignment?: string };

test('when a permuted suspect is extracted with a reference in any format and layout, then it is realigned and matches', async () => {
  const suspect = await permutedSuspect();
  const alone = await extract(['--model', suspect]);
  assert.ok(alone.r < 0.5, `without a reference the permuted units stay shuffled: r ${alone.r}`);

  const tfjs = join(dir, 'reference-tfjs');
  mkdirSync(tfjs);
  for (const f of writeModel(ours, 'tfjs', lenet5)) writeFileSync(join(tfjs, f.name), f.bytes);
  const references = ['torch_lenet5.safetensors', 'torch_lenet5.npz', 'torch_lenet5.onnx'].map((f) => join(fixtures, f)).concat(tfjs, ptFixture('lenet5.pt'));
  for (const reference of references) {
    const s = await extract(['--model', suspect, '--reference', reference]);
    assert.equal(s.decision, 'match', reference);
    assert.ok(s.r > 0.99, `${reference}: r ${s.r}`);
  }
});

test('when the reference cannot serve, then the error names the file and what it holds', async () => {
  const suspect = join(fixtures, 'torch_lenet5.onnx');
  const unrelated = new URL('./fixtures/formats/stored.npz', import.meta.url).pathname;
  await assert.rejects(runExtract(['--model', suspect, '--key', key, '--reference', unrelated]), (e: Error) => {
    assert.match(e.message, /^Reference .*stored\.npz \(npz\) holds neither the key's tensors \(conv1\/kernel/);
    assert.match(e.message, /PyTorch names and layouts \(conv1\.weight \[20,1,5,5\]/);
    assert.match(e.message, /it has: conv1\.weight \[2,3,4\]/);
    return true;
  });
  await assert.rejects(runExtract(['--model', suspect, '--key', key, '--reference', join(dir, 'missing.onnx')]), /missing\.onnx/);
  const junk = join(dir, 'junk.bin');
  writeFileSync(junk, 'not a model');
  await assert.rejects(runExtract(['--model', suspect, '--key', key, '--reference', junk]), /junk\.bin.*not a recognised model format/);
});

test("when the suspect is PyTorch's own torch.save checkpoint (.pt), then extract reads it and matches", async () => {
  for (const file of ['lenet5.pt', 'lenet5_checkpoint.pt']) {
    const s = await extract(['--model', ptFixture(file)]);
    assert.equal(s.decision, 'match', file);
    assert.ok(s.r > 0.99, `${file}: r ${s.r}`);
  }
});

test('when the suspect is PyTorch\'s BN-folded ONNX export of a ResNet-32 release, then extract reads its weights (not its graph) and scores it as the original', async () => {
  // Its option-A shortcut is a Slice: no graph a licensor's network would be imported from, yet the key's network is known.
  const cifar = new URL('./fixtures/torch-cifar/', import.meta.url).pathname;
  const run = async (model: string) => JSON.parse((await captured(() => runExtract(['--key', join(cifar, 'ours/key.json'), '--json', '--model', model]))).out) as { r: number; decision: string };
  const foldedFile = join(cifar, 'torch_resnet32_folded.onnx');
  assert.equal((await run(foldedFile)).decision, 'match');
  // Extract, as the service, stops at the alignment as read when it already matches far below the threshold;
  // the invariant re-alignment onto the anchor is what undoes the folding: through it, the folded export and
  // the original read the same r.
  const ourKey = loadKeyFile(join(cifar, 'ours/key.json'));
  const anchor = loadReference(join(cifar, 'ours/anchor.safetensors'), ourKey, 'resnet32');
  const invariantR = (model: string) => {
    const aligned = alignToKey(loadModel(model).params, ourKey, { reference: anchor, arch: getArchitecture('resnet32') });
    return scoreAgainstKey(extractValues(aligned.params, ourKey), ourKey).r;
  };
  const folded = invariantR(foldedFile);
  const original = invariantR(join(cifar, 'ours'));
  assert.ok(Math.abs(folded - original) < 1e-3, `folded r ${folded}, original ${original}`);
});

test('when the suspect diverged (every weight NaN), then extract answers no match and says why, instead of failing', async () => {
  const nan = { tensors: ours.tensors.map((t) => ({ ...t, data: new Float32Array(t.data.length).fill(Number.NaN) })) };
  const file = join(dir, 'diverged.safetensors');
  writeFileSync(file, writeModel(nan, 'safetensors')[0]!.bytes);
  const json = JSON.parse((await captured(() => runExtract(['--key', key, '--json', '--model', file]))).out) as { r: number; decision: string; nonFinite: number; n: number };
  assert.equal(json.decision, 'no match');
  assert.equal(json.r, 0);
  assert.equal(json.n, 0);
  assert.equal(json.nonFinite, (JSON.parse(readFileSync(key, 'utf8')) as { values: unknown[] }).values.length);
  const text = (await captured(() => runExtract(['--key', key, '--model', file]))).out;
  assert.match(text, /NaN or infinite \(diverged weights\)/);
  assert.doesNotMatch(text, /per layer: \n/);
});

test('when --alignment is unknown or contradicts --no-invariant, then extract refuses with a usage error naming the choices', async () => {
  const model = join(fixtures, 'input_lenet5.safetensors');
  await assert.rejects(runExtract(['--key', key, '--model', model, '--alignment', 'sideways']), { name: 'Error', message: "--alignment must be one of both, as-read, invariant, got 'sideways'" });
  await assert.rejects(runExtract(['--key', key, '--model', model, '--no-invariant', '--alignment', 'both']), /--no-invariant means --alignment as-read; it contradicts --alignment both/);
  // The one pass asked for, said in the JSON: the invariant pass alone realigns a permuted copy, as read cannot.
  const suspect = await permutedSuspect();
  const invariant = await extract(['--model', suspect, '--reference', join(fixtures, 'input_lenet5.safetensors'), '--alignment', 'invariant']);
  assert.deepEqual([invariant.alignment, invariant.decision], ['invariant', 'match']);
  const asRead = await extract(['--model', suspect, '--reference', join(fixtures, 'input_lenet5.safetensors'), '--alignment', 'as-read']);
  assert.deepEqual([asRead.alignment, asRead.decision], ['as read', 'no match']);
});
