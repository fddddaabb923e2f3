/**
 * `weightmark train --warm-start DIR`: a second run from a trained model folder with a fresh schedule (a
 * warm restart, how the committed ALL-CNN-C got past its first 30-epoch cycle). A keyed folder's key stays
 * locked and still follows from its commitment; an unkeyed one trains on without a key; the run resumes
 * after Ctrl-C like any other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runExtract, runTrain } from '../src/cli/localCommands.js';
import { loadKeyFile, loadModel } from '../src/cli/modelFiles.js';
import { extractValues } from '../src/core/extract.js';
import { captured } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wm-warm-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const keyed = join(dir, 'keyed');
const plain = join(dir, 'plain');
const common = ['--arch', 'mlp', '--epochs', '1', '--limit', '600', '--test-limit', '500', '--threads', '1'];

test.before(async () => {
  assert.equal((await captured(() => runTrain([...common, '--strategy', 'naive', '--n', '200', '--seed', '3', '--out', keyed, '--json']))).code, 0);
  assert.equal((await captured(() => runTrain([...common, '--strategy', 'none', '--seed', '3', '--out', plain, '--json']))).code, 0);
});

test('when a keyed model is warm-started, then the weights move, its key stays exact and still follows from its commitment, and training.json names where it started', async () => {
  const out = join(dir, 'keyed-2');
  const run = await captured(() => runTrain(['--warm-start', keyed, '--epochs', '1', '--limit', '600', '--test-limit', '500', '--threads', '1', '--seed', '4', '--out', out, '--json']));
  assert.equal(run.code, 0);
  const summary = JSON.parse(run.out);
  assert.equal(summary.strategy, 'naive', 'a keyed folder trains on with the default strategy');
  assert.equal(summary.arch, 'mlp', 'the architecture comes from the folder');
  const key = loadKeyFile(join(out, 'key.json'));
  assert.deepEqual(key, loadKeyFile(join(keyed, 'key.json')), 'the same key, not a new one');
  const before = loadModel(keyed, 'mlp').params;
  const after = loadModel(out, 'mlp').params;
  assert.deepEqual(Array.from(extractValues(after, key)), key.values, 'every key value is still exact');
  assert.notDeepEqual(after.tensors[0]!.data, before.tensors[0]!.data, 'the free weights trained');
  const extract = JSON.parse((await captured(() => runExtract(['--model', out, '--key', join(out, 'key.json'), '--json']))).out);
  assert.equal(extract.decision, 'match');
  assert.deepEqual(extract.derivation, { ok: true }, 'commitment.json and anchor.safetensors came along');
  const training = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
  assert.equal(resolve(training.warmStart.from), keyed, 'the folder, relative to where the command ran');
  assert.match(training.warmStart.weightsSha256, /^[0-9a-f]{64}$/);
  assert.equal(training.warmStart.previous.testAccuracy, JSON.parse(readFileSync(join(keyed, 'training.json'), 'utf8')).testAccuracy);
  assert.equal(training.seed, 4);
});

test('when a model without a key is warm-started, then it trains on with strategy none and carries no key', async () => {
  const out = join(dir, 'plain-2');
  const run = await captured(() => runTrain(['--warm-start', plain, '--epochs', '1', '--limit', '600', '--test-limit', '500', '--threads', '1', '--seed', '4', '--out', out, '--json']));
  assert.equal(run.code, 0);
  assert.equal(JSON.parse(run.out).strategy, 'none');
  assert.equal(existsSync(join(out, 'key.json')), false);
  assert.equal(existsSync(join(out, 'commitment.json')), false);
});

test('when a warm start would free, replace or invent a key, or has no model to start from, then it is refused with the reason', async () => {
  const out = join(dir, 'refused');
  await assert.rejects(runTrain(['--warm-start', keyed, '--strategy', 'none', '--epochs', '1', '--out', out]), /carries key key-\w+; training it with --strategy none would set its positions free/);
  await assert.rejects(runTrain(['--warm-start', plain, '--strategy', 'naive', '--epochs', '1', '--out', out]), /holds no key.json: a warm start keeps a model's key and draws none/);
  await assert.rejects(runTrain(['--warm-start', keyed, '--key-seed', 'new', '--epochs', '1', '--out', out]), /--warm-start keeps the key of .* drop --key-seed/);
  await assert.rejects(runTrain(['--warm-start', dir, '--arch', 'mlp', '--epochs', '1', '--out', out]), /has no model.json/);
  await assert.rejects(runTrain(['--warm-start', keyed, '--arch', 'lenet5', '--epochs', '1', '--out', out]), /does not fit lenet5/);
  assert.equal(existsSync(out), false, 'nothing written');
});

test('when a warm-started run gets Ctrl-C after an epoch, then --resume finishes it with the weights of an uninterrupted one', async () => {
  const flags = ['--warm-start', keyed, '--epochs', '2', '--limit', '3000', '--test-limit', '500', '--threads', '1', '--seed', '5'];
  const cli = (args: string[], stopIn?: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = stopIn ? setInterval(() => existsSync(join(stopIn, 'checkpoint', 'state.json')) && !child.killed && child.kill('SIGINT'), 10) : undefined;
    return new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => (clearInterval(poll), resolve({ code, stderr }))));
  };
  const straight = join(dir, 'straight');
  assert.equal((await cli([...flags, '--out', straight])).code, 0);
  const interrupted = join(dir, 'interrupted');
  assert.equal((await cli([...flags, '--out', interrupted], interrupted)).code, 130);
  const resumed = await cli(['--resume', interrupted]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(readFileSync(join(interrupted, 'group1-shard1of1.bin')), readFileSync(join(straight, 'group1-shard1of1.bin')));
  assert.equal(resolve(JSON.parse(readFileSync(join(interrupted, 'training.json'), 'utf8')).warmStart.from), keyed);
  assert.ok(existsSync(join(interrupted, 'commitment.json')));
});
