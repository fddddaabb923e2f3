import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExtract, runTrain } from '../src/cli/localCommands.js';
import { captured } from './cli-helpers.js';


const dir = mkdtempSync(join(tmpdir(), 'wm-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('when a model is trained and its watermark extracted from the CLI, then key and commitment are private, every marked value is exact and the key follows from its commitment', async () => {
  const out = join(dir, 'marked');
  const train = await captured(() => runTrain(['--arch', 'mlp', '--strategy', 'naive', '--epochs', '1', '--limit', '600', '--n', '200', '--threads', '1', '--seed', '3', '--key-seed', 'cli-test', '--out', out, '--json']));
  assert.equal(train.code, 0);
  const summary = JSON.parse(train.out);
  assert.equal(summary.strategy, 'naive');
  // r correlates the weights with the committed Gaussian signal: an intact mark reads about 0.97, every value exact (BER 0)
  assert.ok(summary.score.r > 0.95, `r ${summary.score.r}`);
  assert.equal(summary.score.ber, 0);
  assert.equal(summary.score.layers.length, 3, 'every layer, the output layer too, is marked and tested');
  for (const f of ['key.json', 'commitment.json']) assert.equal(statSync(join(out, f)).mode & 0o777, 0o600);
  assert.ok(existsSync(join(out, 'model.json')));

  const extract = await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--json']));
  const score = JSON.parse(extract.out);
  assert.deepEqual(Object.keys(score).slice(0, 5), ['r', 'n', 'pValue', 'log10p', 'atFloor']);
  // extract realigns onto the anchor (per-unit scales from norm ratios), so r moves in the 5th digit at most
  assert.ok(Math.abs(score.r - summary.score.r) < 1e-3, `${score.r} against ${summary.score.r}`);
  assert.equal(score.ber, 0);
  assert.equal(score.decision, 'match');
  assert.deepEqual(score.derivation, { ok: true });

  // train kept the weights from before the key was drawn; extract realigns a permuted copy onto them by default
  assert.ok(existsSync(join(out, 'anchor.safetensors')));
  const { getAttack } = await import('../src/attacks/index.js');
  const { getArchitecture } = await import('../src/core/architectures.js');
  const { readModel, writeModel } = await import('../src/formats/index.js');
  const { readModelPath } = await import('../src/cli/modelFiles.js');
  const marked = { ...readModel(readModelPath(out)).params, arch: 'mlp' };
  const permuted = (await getAttack('permute').run(marked, getArchitecture('mlp'), 1, { seed: 9 })).set;
  writeFileSync(join(dir, 'permuted.safetensors'), writeModel(permuted, 'safetensors')[0]!.bytes);
  const back = JSON.parse((await captured(() => runExtract(['--model', join(dir, 'permuted.safetensors'), '--key', join(out, 'key.json'), '--json']))).out);
  assert.equal(back.decision, 'match');
  assert.ok(back.r > 0.9, `r after realignment onto the anchor: ${back.r}`);
});

test('when trained with --key-kind paper, then the key is the paper\'s — positions uniform over every kernel and bias, values scale-matched at initialisation, locked from the first step — and reads back exactly', async () => {
  const out = join(dir, 'paper');
  const args = ['--arch', 'mlp', '--strategy', 'naive', '--epochs', '1', '--limit', '300', '--n', '120', '--threads', '1', '--seed', '3', '--key-seed', 'paper-test', '--key-kind', 'paper'];
  const train = await captured(() => runTrain([...args, '--out', out, '--json']));
  assert.equal(train.code, 0);
  const { parseKey, generateKey, keyTargetsFromParamSet } = await import('../src/core/keygen.js');
  const { getArchitecture } = await import('../src/core/architectures.js');
  const { initParams } = await import('../src/core/init.js');
  const { toParamSet } = await import('../src/training/train.js');
  const { readFileSync } = await import('node:fs');
  const key = parseKey(JSON.parse(readFileSync(join(out, 'key.json'), 'utf8')));
  const arch = getArchitecture('mlp');
  const expected = generateKey(keyTargetsFromParamSet(toParamSet(arch, initParams(arch, 3))), { seed: 'paper-test', n: 120, arch: 'mlp' });
  assert.deepEqual(key.values, expected.values, 'the key drawn from the initial weights, before any step');
  assert.deepEqual([key.tensorIndex, key.flatIndex], [expected.tensorIndex, expected.flatIndex]);
  assert.ok(!existsSync(join(out, 'commitment.json')) && !existsSync(join(out, 'anchor.safetensors')), 'no commitment, no anchor: nothing is drawn part-way');
  const score = JSON.parse((await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--json']))).out);
  assert.equal(score.ber, 0);
  assert.equal(score.decision, 'match');
  await assert.rejects(runTrain([...args, '--key-image', 'x.png', '--out', join(dir, 'paper2')]), /--key-kind paper draws its own key.*not --key, --key-image or --key-message/);
  await assert.rejects(runTrain([...args, '--key-kind', 'papr', '--out', join(dir, 'paper3')]), /key-kind/);
});

test('when the key is checked against a model trained without it, then the decision is no match with p > 0.01', async () => {
  const other = join(dir, 'unmarked');
  await captured(() => runTrain(['--arch', 'mlp', '--strategy', 'none', '--epochs', '1', '--limit', '600', '--threads', '1', '--seed', '4', '--out', other, '--json']));
  const extract = await captured(() => runExtract(['--model', other, '--key', join(dir, 'marked', 'key.json'), '--json']));
  const score = JSON.parse(extract.out);
  assert.equal(score.decision, 'no match');
  assert.ok(score.pValue > 0.01, `p = ${score.pValue}`);
});

test('when training gets Ctrl-C, then it stops with exit code 130 and writes nothing', async () => {
  const out = join(dir, 'interrupted');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--arch', 'lenet5', '--strategy', 'naive', '--epochs', '3', '--limit', '5000', '--threads', '1', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/epoch 1\/3/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  assert.equal(code, 130, stderr);
  assert.match(stderr, /cancelled before its first epoch ended; nothing was written/);
  assert.equal(existsSync(join(out, 'model.json')), false);
  assert.equal(existsSync(join(out, 'key.json')), false);
});

test('when a flag is wrong, then the command says which and what is accepted', async () => {
  await assert.rejects(runTrain(['--strategy', 'robust', '--out', join(dir, 'x')]), /--strategy must be one of none, naive, delve/);
  await assert.rejects(runTrain(['--arch', 'vgg', '--out', join(dir, 'x')]), /Unknown architecture 'vgg'. Supported architectures are: lenet5, mlp/);
  await assert.rejects(runExtract(['--model', join(dir, 'missing'), '--key', join(dir, 'marked', 'key.json')]), /No such file or folder/);
});
