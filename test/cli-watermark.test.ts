/**
 * `weightmark watermark` on a model trained elsewhere: PyTorch's torch.save of a LeNet5
 * (test/fixtures/pt/lenet5.pt) gets a committed key by a short fine-tune; extract finds it in the
 * result and not in the original.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runExtract } from '../src/cli/localCommands.js';
import { runWatermark } from '../src/cli/watermarkCommand.js';
import { captured } from './cli-helpers.js';
import { mnistNpz } from './dataset-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wm-posthoc-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const pt = fileURLToPath(new URL('./fixtures/pt/lenet5.pt', import.meta.url));

test('when a PyTorch checkpoint is watermarked from the CLI, then it keeps its accuracy, carries the key, and the original does not', async () => {
  const out = join(dir, 'marked');
  const run = await captured(() => runWatermark(['--model', pt, '--out', out, '--epochs', '1', '--limit', '1000', '--test-limit', '1000', '--seed', '3', '--key-seed', 'cli-posthoc', '--json']));
  assert.equal(run.code, 0, run.out);
  const summary = JSON.parse(run.out);
  assert.equal(summary.arch, 'lenet5', 'recognised from its PyTorch names');
  assert.equal(summary.source.format, 'pt');
  assert.ok(summary.accuracyBefore > 0.97, `before ${summary.accuracyBefore}`);
  assert.ok(summary.testAccuracy > summary.accuracyBefore - 0.02, `after ${summary.testAccuracy}`);
  assert.equal(summary.score.ber, 0);
  for (const f of ['key.json', 'commitment.json']) assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, `${f} is secret`);
  assert.ok(existsSync(join(out, 'anchor.safetensors')), 'the model as it came is kept as the alignment anchor');

  const marked = await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--json']));
  assert.equal(JSON.parse(marked.out).decision, 'match');
  const original = await captured(() => runExtract(['--model', pt, '--key', join(out, 'key.json'), '--arch', 'lenet5', '--json']));
  assert.equal(original.code, 0, original.out);
  assert.equal(JSON.parse(original.out).decision, 'no match');
});

test('when the fine-tune runs on the licensor\'s own data (--data), then before and after are measured on its held-out share', async () => {
  const data = join(dir, 'mnist500.npz');
  writeFileSync(data, mnistNpz(500));
  const run = await captured(() => runWatermark(['--model', pt, '--data', data, '--out', join(dir, 'own'), '--epochs', '1', '--seed', '3', '--json']));
  assert.equal(run.code, 0, run.out);
  const summary = JSON.parse(run.out);
  assert.ok(summary.heldOut >= 45 && summary.heldOut <= 55, `10% of each class, rounded per class: ${summary.heldOut}`);
  assert.ok(summary.accuracyBefore > 0.9 && summary.testAccuracy > 0.85, `${summary.accuracyBefore} → ${summary.testAccuracy}`);
  assert.equal(summary.score.ber, 0);
  await assert.rejects(runWatermark(['--model', pt, '--data', data, '--dataset', 'mnist', '--out', join(dir, 'both')]), /not both/);
});

test('when a licensor\'s own network (a .pt with its ONNX graph) is watermarked from the CLI, then it is written back in that form and extract reads the key from either file', async () => {
  const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/import/${f}`, import.meta.url));
  const out = join(dir, 'imported');
  const run = await captured(() => runWatermark(['--model', fixture('resblock.pt'), '--graph', fixture('resblock_train.onnx'), '--out', out, '--epochs', '1', '--limit', '500', '--test-limit', '500', '--json']));
  assert.equal(run.code, 0, run.out);
  const summary = JSON.parse(run.out);
  assert.match(summary.arch, /^onnx-[0-9a-f]{12}$/);
  assert.equal(summary.score.ber, 0);
  for (const f of ['model.onnx', 'model.pt']) assert.ok(existsSync(join(out, f)), `${f} written in the licensor's form`);
  const key = join(out, 'key.json');
  for (const args of [['--model', join(out, 'model.onnx')], ['--model', join(out, 'model.pt'), '--graph', join(out, 'model.onnx')]]) {
    const r = await captured(() => runExtract([...args, '--key', key, '--json']));
    assert.equal(JSON.parse(r.out).decision, 'match', args.join(' '));
  }
  const original = await captured(() => runExtract(['--model', fixture('resblock_train.onnx'), '--key', key, '--json']));
  assert.equal(JSON.parse(original.out).decision, 'no match');
});

test('when the watermark command is asked for strategy none, then it says which strategies embed a key', async () => {
  await assert.rejects(runWatermark(['--model', pt, '--out', join(dir, 'none'), '--strategy', 'none']), /--strategy.*naive.*delve/);
});
