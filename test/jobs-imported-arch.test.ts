import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcessExecutor } from '../src/jobs/childExecutor.js';
import { makeCommitment } from '../src/core/commitment.js';
import { policyRecord } from '../src/core/keyPlan.js';
import { defaults } from '../src/core/config.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { registerArchitecture } from '../src/core/architectures.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';
import type { ReleaseTask } from '../src/service/ports.js';
import { importFixture } from './import-helpers.js';

// A job's child process knows the built-in architectures only; an imported one travels with the task.
const { architecture, params } = importOnnxGraph(importFixture('resblock_train.onnx'));
// Registered as the service registers it when it loads the model: keys then go into conv and dense tensors only.
registerArchitecture(architecture);
const ownerKey = generateKey(keyTargetsFromParamSet(params), { seed: 'child-owner', id: 'key-owner', arch: architecture.name, n: 128 });
const task: ReleaseTask = {
  kind: 'release', arch: architecture.name, architecture, dataset: 'mnist', strategy: 'naive', epochs: 1, limit: 64, licensee: 'child-licensee',
  ownerModel: embedValues(params, ownerKey), ownerKey, keyId: 'key-licensee',
  commitment: makeCommitment({ owner: 'test', subject: 'rel_child', arch: architecture.name, n: 128, allocation: policyRecord(defaults.key.allocation) }),
};
const progress = { onProgress: () => {}, signal: new AbortController().signal };

test('when a release of an imported network runs in a child process, then the child resolves the architecture the task carries and fine-tunes it with both keys locked', async () => {
  const executor = new ChildProcessExecutor();
  try {
    const out = await executor.run(task, progress);
    assert.equal(out.key?.arch, architecture.name);
    assert.deepEqual(Array.from(extractValues(out.params!, ownerKey)), Array.from(ownerKey.values), 'the owner key stays locked');
    assert.deepEqual(Array.from(extractValues(out.params!, out.key!)), Array.from(out.key!.values), 'the licensee key is locked in');
  } finally {
    await executor.close();
  }
});

test('when the task names an imported architecture without carrying it, then the child cannot resolve it', async () => {
  const { architecture: _, ...nameOnly } = task;
  const executor = new ChildProcessExecutor();
  try {
    await assert.rejects(executor.run(nameOnly, progress), new RegExp(`Unknown architecture '${architecture.name}'`));
  } finally {
    await executor.close();
  }
});
