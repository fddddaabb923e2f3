import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKey, keyTargetsFromParamSet, serializeKey } from '../src/core/keygen.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getArchitecture } from '../src/core/architectures.js';
import { makeCommitment } from '../src/core/commitment.js';
import { policyRecord } from '../src/core/keyPlan.js';
import { defaults } from '../src/core/config.js';
import { initParams } from '../src/core/init.js';
import { loadDataset } from '../src/data/datasets.js';
import { committedTraining } from '../src/training/committedKey.js';
import { checkpointRun, readCheckpoint, writeCheckpoint } from '../src/store/trainingCheckpoint.js';
import { toParamSet, trainModel, type TrainOptions, type TrainState } from '../src/training/train.js';

const dir = mkdtempSync(join(tmpdir(), 'wm-resume-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const arch = getArchitecture('mlp');
const trainData = loadDataset('mnist', 'train', { limit: 400 });
const testData = loadDataset('mnist', 'test', { limit: 200 });

/** One commitment per call (it is dated): a run and its resume must share the options object. */
function options(strategy: 'naive' | 'delve'): TrainOptions {
  const init = toParamSet(arch, initParams(arch, 5));
  const commitment = makeCommitment({ owner: 't', subject: 'resume', arch: 'mlp', n: 120, allocation: policyRecord(defaults.key.allocation), nonce: 'ab'.repeat(32) });
  // The key is drawn at 25% of the run and re-drawn later: a resume after epoch 1 of 3 crosses both.
  return {
    arch, strategy, plan: committedTraining(commitment, init, 'key-resume'), init, epochs: 3, batchSize: 50, lr: 0.05, seed: 5, threads: 1,
    trainData, testData, ...(strategy === 'delve' ? { delve: { replicas: 2 } } : {}),
  };
}

for (const strategy of ['naive', 'delve'] as const) {
  test(`when a ${strategy} run is resumed from its epoch-1 checkpoint on disk, then it ends bit for bit where the uninterrupted run ends`, async () => {
    const out = join(dir, strategy);
    const opts = options(strategy);
    const whole = await trainModel({ ...opts, onEpochEnd: (s) => (s.epoch === 1 ? writeCheckpoint(out, arch, s, { note: 'run' }) : undefined) });
    const saved = readCheckpoint(out, arch)!;
    assert.deepEqual(saved.run, { note: 'run' });
    assert.equal(saved.state.epoch, 1);
    const resumed = await trainModel({ ...opts, resume: saved.state });
    whole.params.tensors.forEach((t, i) => assert.deepEqual(resumed.params.tensors[i]!.data, t.data, `${t.name} differs after the resume`));
    assert.deepEqual(resumed.key!.values, whole.key!.values);
    assert.deepEqual(resumed.key!.flatIndex, whole.key!.flatIndex);
    assert.deepEqual(resumed.anchor!.tensors.map((t) => t.data), whole.anchor!.tensors.map((t) => t.data));
    assert.deepEqual(resumed.history.map((h) => h.testAccuracy), whole.history.map((h) => h.testAccuracy));
    // Each epoch names the engine it ran on, the resumed leg's as well as those read from the checkpoint.
    assert.deepEqual(resumed.history.map((h) => h.threads), [1, 1, 1]);
    assert.ok(resumed.history.every((h) => typeof h.backend === 'string' && h.backend === resumed.backend));
  });
}

test('when a checkpoint is of another architecture, then reading it says so', async () => {
  const out = join(dir, 'naive');
  assert.throws(() => readCheckpoint(out, getArchitecture('lenet5')), /checkpoint is of a mlp run, not lenet5/);
  assert.equal(readCheckpoint(join(dir, 'nothing-here'), arch), undefined);
});

test('when a checkpoint is damaged, then reading it names the file and says how to start again', async () => {
  const out = join(dir, 'damaged');
  await trainModel({ ...options('naive'), epochs: 1, onEpochEnd: (s) => writeCheckpoint(out, arch, s, {}) });
  writeFileSync(join(out, 'checkpoint', 'params.safetensors'), 'not a safetensors file');
  assert.throws(() => readCheckpoint(out, arch), /checkpoint[/\\]params\.safetensors: the checkpoint is damaged .* delete the checkpoint folder/);
  writeFileSync(join(out, 'checkpoint', 'state.json'), '{bad');
  assert.throws(() => readCheckpoint(out, arch), /checkpoint[/\\]state\.json: the checkpoint is damaged/);
  assert.throws(() => checkpointRun(out), /state\.json: the checkpoint is damaged/);
});

test('when a resume state is past the run, then training refuses it', async () => {
  const state: TrainState = { epoch: 5, params: initParams(arch, 1), velocity: initParams(arch, 1), history: [], samplesSeen: 0, seconds: 0, noiseDraws: 0 };
  await assert.rejects(trainModel({ ...options('naive'), resume: state }), /Cannot resume after epoch 5 of a 3-epoch run/);
});

test('when the CLI run gets Ctrl-C after an epoch, then --resume finishes it with the weights of an uninterrupted run', async () => {
  // An explicit key: a committed one is dated, so two runs would draw two keys.
  const keyFile = join(dir, 'given-key.json');
  writeFileSync(keyFile, serializeKey(generateKey(keyTargetsFromParamSet(toParamSet(arch, initParams(arch, 8))), { seed: 'resume-cli', n: 150, arch: 'mlp' })));
  const flags = ['--arch', 'mlp', '--strategy', 'naive', '--epochs', '3', '--limit', '6000', '--threads', '1', '--seed', '8', '--key', keyFile];
  // stopIn: Ctrl-C as soon as the first checkpoint lands in that folder (epoch 1 done, epoch 2 under way).
  const cli = (args: string[], stopIn?: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = stopIn
      ? setInterval(() => {
          if (existsSync(join(stopIn, 'checkpoint', 'state.json')) && !child.killed) child.kill('SIGINT');
        }, 10)
      : undefined;
    return new Promise<{ code: number | null; stderr: string }>((resolve) =>
      child.on('exit', (code) => {
        clearInterval(poll);
        resolve({ code, stderr });
      }),
    );
  };
  const straight = join(dir, 'straight');
  assert.equal((await cli([...flags, '--out', straight])).code, 0);
  const interrupted = join(dir, 'interrupted');
  const stopped = await cli([...flags, '--out', interrupted], interrupted);
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /Continue with: weightmark train --resume/);
  assert.equal(existsSync(join(interrupted, 'model.json')), false);
  const again = await cli(['--out', join(dir, 'interrupted'), ...flags]);
  assert.match(again.stderr, /holds an unfinished run; continue it with: weightmark train --resume/);
  const refused = await cli(['--resume', interrupted, '--epochs', '5']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /drop --epochs/);
  const resumed = await cli(['--resume', interrupted]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(existsSync(join(interrupted, 'checkpoint')), false, 'a finished run leaves no checkpoint');
  assert.deepEqual(readFileSync(join(interrupted, 'group1-shard1of1.bin')), readFileSync(join(straight, 'group1-shard1of1.bin')));
  assert.deepEqual(JSON.parse(readFileSync(join(interrupted, 'key.json'), 'utf8')).values, JSON.parse(readFileSync(join(straight, 'key.json'), 'utf8')).values);
});
