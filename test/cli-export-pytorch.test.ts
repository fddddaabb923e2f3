import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExport } from '../src/cli/localCommands.js';
import { captured } from './cli-helpers.js';
import { tempDir } from './http-helpers.js';

// The same LeNet5 weights in our layout (input_lenet5.safetensors) and as torch.save wrote its state_dict.
const fixture = (path: string) => new URL(`./fixtures/${path}`, import.meta.url).pathname;
const dir = tempDir('export-pytorch');

for (const format of ['pt', 'onnx', 'tfjs']) {
  test(`when PyTorch's own .pt is exported as ${format} with --arch, then it is converted exactly: the same bytes as the export of our layout`, async () => {
    const exported = async (model: string, out: string) => {
      assert.equal((await captured(() => runExport(['--model', model, '--format', format, '--arch', 'lenet5', '--out', out]))).code, 0);
      return readFileSync(format === 'tfjs' ? join(out, 'model.json') : out);
    };
    const fromPt = await exported(fixture('pt/lenet5.pt'), join(dir, `from-pt.${format}`));
    const fromOurs = await exported(fixture('torch/input_lenet5.safetensors'), join(dir, `from-ours.${format}`));
    assert.ok(fromPt.equals(fromOurs));
    if (format === 'tfjs') assert.ok(readFileSync(join(dir, 'from-pt.tfjs', 'group1-shard1of1.bin')).equals(readFileSync(join(dir, 'from-ours.tfjs', 'group1-shard1of1.bin'))));
  });
}
