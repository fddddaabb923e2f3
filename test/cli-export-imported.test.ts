import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExport } from '../src/cli/localCommands.js';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';
import { readModel } from '../src/formats/index.js';
import { writeSafetensors } from '../src/formats/safetensors.js';
import { captured } from './cli-helpers.js';
import { tempDir } from './http-helpers.js';
import { importFixture } from './import-helpers.js';

const fixture = (name: string) => new URL(`./fixtures/import/${name}`, import.meta.url).pathname;
const dir = tempDir('export-imported');
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test('when our canonical weights of an imported network are exported with --graph as onnx, then the file is the licensor\'s graph holding those weights', async () => {
  const { params, architecture } = importOnnxGraph(importFixture('resblock_train.onnx'));
  writeFileSync(join(dir, 'ours.safetensors'), writeSafetensors(params));
  const out = join(dir, 'licensor.onnx');
  const run = await captured(() => runExport(['--model', join(dir, 'ours.safetensors'), '--graph', fixture('resblock_train.onnx'), '--format', 'onnx', '--out', out]));
  assert.equal(run.code, 0);
  const again = importOnnxGraph(new Uint8Array(readFileSync(out)));
  assert.equal(again.architecture.name, architecture.name);
  params.tensors.forEach((t, i) => assert.deepEqual(bits(again.params.tensors[i]!.data), bits(t.data), t.name));
});

test('when a state_dict in the graph\'s names is exported with --graph as pt, then it comes back as that state_dict, batch-norm counters included', async () => {
  const out = join(dir, 'licensor.pt');
  assert.equal((await captured(() => runExport(['--model', fixture('resblock.pt'), '--graph', fixture('resblock_train.onnx'), '--format', 'pt', '--out', out]))).code, 0);
  const sorted = (bytes: Uint8Array) => readModel([{ name: 'm.pt', bytes }]).params.tensors.map((t) => [t.name, bits(t.data)] as const).sort(([a], [b]) => a.localeCompare(b));
  assert.deepEqual(sorted(new Uint8Array(readFileSync(out))), sorted(importFixture('resblock.pt')));
});

test('when --graph is given weights of another network, then the export is refused naming what it expected', async () => {
  await assert.rejects(
    captured(() => runExport(['--model', fixture('flathead.pt'), '--graph', fixture('resblock_train.onnx'), '--format', 'pt', '--out', join(dir, 'x.pt')])),
    /neither the canonical tensors .*conv1\/kernel.* nor its initializers \(conv1\.weight/,
  );
});
