import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { startTestServer, assertContract, assertProblem, safetensorsBytes, type TestServer } from './http-helpers.js';
import { getAttack } from '../src/attacks/index.js';
import { getArchitecture } from '../src/core/architectures.js';
import { readModel } from '../src/formats/index.js';
import { loadParams } from '../src/service/models.js';

// torch.save's own checkpoints (test/fixtures/pt) of the LeNet5 whose key is test/fixtures/torch/key.json
// (the key names our canonical tensors: conv1/kernel …; the .pt holds PyTorch's: conv1.weight …).
const file = (path: string) => readFileSync(new URL(`./fixtures/${path}`, import.meta.url));
const MARKER = '/tmp/weightmark-pwned';

let s: TestServer;
let registeredId = '';
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when a .pt checkpoint is registered with its architecture and key, then the PyTorch state_dict is taken as that architecture and the key fits', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).field('name', 'lenet5 from torch').field('arch', 'lenet5')
    .attach('file', file('pt/lenet5.pt'), 'lenet5.pt').attach('key', file('torch/key.json'), 'key.json');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'registerModel');
  assert.equal(res.body.format, 'pt');
  assert.equal(res.body.paramCount, 431080);
  assert.ok(res.body.ownerKeyId);
  registeredId = res.body.id;
});

test('when the registered .pt is read again from its stored file, then it is that architecture in our layout, as at registration', async () => {
  const { ctx } = s.server.service;
  const model = (await ctx.store.listModels({ limit: 10, offset: 0 })).items.find((m) => m.id === registeredId)!;
  ctx.cache.params.clear();
  const params = await loadParams(ctx, model);
  assert.deepEqual(params.tensors.map((t) => `${t.name}[${t.shape}]`).slice(0, 2), ['conv1/kernel[5,5,1,20]', 'conv1/bias[20]']);
});

test('when a .pt checkpoint is registered without an architecture, then it is stored as read', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).attach('file', file('pt/lenet5_f16.pt'), 'half.pt');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.format, 'pt');
});

/** Uploads a suspect as a verifier; @returns the decision of the 201 answer. */
async function decision(bytes: Buffer, name: string): Promise<string> {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', bytes, name);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  return res.body.decision;
}

test('when a verifier uploads a .pt training checkpoint of the marked model, then it verifies as a match', async () => {
  assert.equal(await decision(file('pt/lenet5_checkpoint.pt'), 'suspect.pt'), 'match');
});

test('when a neuron-permuted copy is verified, then the registered .pt serves as the reference that realigns it', async () => {
  const ours = { ...readModel([{ name: 'ours.safetensors', bytes: new Uint8Array(file('torch/input_lenet5.safetensors')) }]).params, arch: 'lenet5' };
  const { set } = await getAttack('permute').run(ours, getArchitecture('lenet5'), 1, { seed: 5 });
  assert.equal(await decision(safetensorsBytes(set), 'permuted.safetensors'), 'match');
});

test('when the suspect is a float16 .pt of the marked model, then it still matches', async () => {
  assert.equal(await decision(file('pt/lenet5_f16.pt'), 'half.pt'), 'match');
});

test('when a verifier uploads a .pt whose pickle calls os.system, then 422 names the global and nothing runs', async () => {
  rmSync(MARKER, { force: true });
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file('pt/malicious.pt'), 'suspect.pt');
  assertProblem(res, 422, 'WM_ERR_FORMAT_UNSAFE_PICKLE', 'createVerification');
  assert.match(res.body.detail, /pickle global 'posix\.system' is not allowed: only torch's weights-only globals are read; nothing was executed/);
  assert.equal(existsSync(MARKER), false, 'the payload ran');
});

test('when a verifier uploads a legacy (non-zip) torch.save, then 422 says to re-save it', async () => {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file('pt/legacy.pt'), 'old.pt');
  assertProblem(res, 422, 'WM_ERR_FORMAT_UNSUPPORTED', 'createVerification');
  assert.match(res.body.detail, /re-save it with a current PyTorch/);
});
