/**
 * Issue 8's "done when", on the committed default model (models/robustness/default.*, made by
 * scripts/robustness-report.ts): the three truncated-SVD settings and a head re-initialised and retrained
 * for an epoch with the features frozen still read "match" through `weightmark extract` and through
 * POST /v1/verifications; and its marked weights cannot be told from the others of their layer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttack } from '../src/attacks/index.js';
import { trainerFor } from '../src/attacks/pipeline.js';
import { getArchitecture } from '../src/core/architectures.js';
import { parseKey } from '../src/core/keygen.js';
import { layerOfTensor } from '../src/core/keyLayers.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { ksTwoSample } from '../src/core/stats.js';
import { readModel, writeModel } from '../src/formats/index.js';
import { runExtract } from '../src/cli/localCommands.js';
import { createGradientEngine, type GradientEngine } from '../src/training/engine.js';
import { captured } from './cli-helpers.js';
import { startTestServer, tempDir, type TestServer } from './http-helpers.js';

const arch = getArchitecture('lenet5');
const dir = 'models/robustness';
const model: ParamSet = { arch: 'lenet5', tensors: readModel([{ name: 'default.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 'default.safetensors'))) }]).params.tensors };
const keyPath = join(dir, 'default.key.json');
const key = parseKey(JSON.parse(readFileSync(keyPath, 'utf8')));
const work = tempDir('default-model');
let s: TestServer;
let engine: GradientEngine;
before(async () => {
  engine = await createGradientEngine(arch, { threads: 2 });
  s = await startTestServer();
  const reg = await s.http.post('/v1/models').set({ Authorization: `Bearer ${s.tokens.issuer}` }).field('arch', 'lenet5')
    .attach('file', readFileSync(join(dir, 'default.safetensors')), 'default.safetensors').attach('key', readFileSync(keyPath), 'key.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
});
after(async () => {
  await engine.dispose();
  await s.stop();
});

async function assertDetected(label: string, attacked: ParamSet): Promise<void> {
  const file = join(work, `${label.replace(/\W+/g, '-')}.safetensors`);
  writeFileSync(file, writeModel(attacked, 'safetensors')[0]!.bytes);
  const cli = JSON.parse((await captured(() => runExtract(['--model', file, '--key', keyPath, '--json']))).out);
  assert.equal(cli.decision, 'match', `${label}: weightmark extract says ${cli.decision} (r ${cli.r}, log10 p ${cli.log10p})`);
  const v = await s.http.post('/v1/verifications').set({ Authorization: `Bearer ${s.tokens.auditor}` }).attach('file', readFileSync(file), 'suspect.safetensors');
  assert.equal(v.status, 201);
  assert.equal(v.body.decision, 'match', `${label}: the service says ${v.body.decision} (best ${JSON.stringify(v.body.report.best).slice(0, 300)})`);
}

for (const ranks of ['fc1=15,conv2=15,fc2=8', 'fc1=10,conv2=15,fc2=8', 'fc1=10,conv2=10,fc2=5']) {
  test(`when the default model is compressed by truncated SVD (${ranks}, no data, no training), then extract and the service still say match`, async () => {
    const attacked = (await getAttack('low-rank').run(model, arch, 15, { seed: 1, options: { ranks } })).set;
    await assertDetected(`svd ${ranks}`, attacked);
  });
}

test('when the default model\'s head is re-initialised and retrained for an epoch with the features frozen, then extract and the service still say match', { timeout: 600_000 }, async () => {
  const attacked = (await getAttack('reinit-head').run(model, arch, 1, { seed: 2, train: trainerFor({ engine, testLimit: 200 }) })).set;
  await assertDetected('reinit head', attacked);
});

function ksOfLayer(layer: string): { n: number; d: number; p: number } {
  const a: number[] = [];
  const b: number[] = [];
  key.tensors.forEach((kt, ti) => {
    if (!kt.name.endsWith('/kernel') || layerOfTensor(key, ti) !== layer) return;
    const data = model.tensors.find((t) => t.name === kt.name)!.data;
    const marked = new Set(key.flatIndex.filter((_, i) => key.tensorIndex[i] === ti));
    for (let i = 0; i < data.length; i++) (marked.has(i) ? a : b).push(data[i]!);
  });
  const ks = ksTwoSample(a, b);
  return { n: a.length, d: ks.d, p: ks.pValue };
}

for (const layer of ['conv1', 'conv2', 'fc1', 'fc2']) {
  test(`when the default model's marked ${layer} weights are compared with the layer's other weights, then they cannot be told apart (two-sample KS, α = 0.01)`, () => {
    const r = ksOfLayer(layer);
    assert.ok(r.p > 0.01, `${layer}: ${r.n} marked weights, D = ${r.d.toFixed(3)}, p = ${r.p.toExponential(2)}`);
  });
}
