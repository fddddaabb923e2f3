/**
 * Batch-norm re-estimation on a real (PyTorch-checked) ResNet-32 fixture: only the running statistics
 * move, so the evaluation-mode function changes while every keyed weight stays bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getAttack } from '../src/attacks/index.js';
import { trainerFor } from '../src/attacks/pipeline.js';
import { getArchitecture } from '../src/core/architectures.js';
import { extractValues } from '../src/core/extract.js';
import { parseKey } from '../src/core/keygen.js';
import { loadModel } from '../src/cli/modelFiles.js';
import { defaultCifar10Archive } from '../src/data/cifar10.js';
import { toParamSet } from '../src/training/train.js';
import { trainedLooking } from './engine-helpers.js';

const dir = fileURLToPath(new URL('./fixtures/torch-cifar/', import.meta.url));
const skip = existsSync(defaultCifar10Archive()) ? false : `no CIFAR-10 archive at ${defaultCifar10Archive()}`;
const attack = getAttack('bn-reestimate');

test('when a ResNet-32\'s batch-norm statistics are re-estimated on CIFAR-10, then only the running statistics move and the key reads exactly', { skip }, async () => {
  const arch = getArchitecture('resnet32');
  const key = parseKey(JSON.parse(readFileSync(`${dir}ours/key.json`, 'utf8')));
  const model = loadModel(`${dir}ours`, 'resnet32').params;
  const { set } = await attack.run(model, arch, 3, { seed: 4, train: trainerFor({ testLimit: 100 }) });
  const changed = set.tensors.filter((t) => {
    const before = model.tensors.find((m) => m.name === t.name)!.data;
    return t.data.some((v, i) => v !== before[i]);
  }).map((t) => t.name);
  assert.ok(changed.length > 0 && changed.every((n) => /\/moving_(mean|variance)$/.test(n)), `changed: ${changed.slice(0, 5).join(', ')}`);
  assert.equal(changed.length, 2 * 31, 'every batch norm\'s two statistics');
  const extracted = extractValues(set, key);
  assert.equal(key.values.reduce((m, v, i) => Math.max(m, Math.abs(extracted[i]! - v)), 0), 0);
});

test('when a network without batch norm is asked for the re-estimation, then the attack says so before any training', async () => {
  const lenet = getArchitecture('lenet5');
  await assert.rejects(attack.run(toParamSet(lenet, trainedLooking(lenet, 1)), lenet, 1, { seed: 1, train: async () => assert.fail('no training') }), /lenet5 has no batch norm/);
});
