import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { startTestServer, assertContract, assertProblem, type TestServer } from './http-helpers.js';

// torch.save's own checkpoints (test/fixtures/pt) of the LeNet5 whose key is test/fixtures/torch/key.json;
// input_lenet5.safetensors holds the same weights in our names and layouts, the ones that key marks.
const file = (path: string) => readFileSync(new URL(`./fixtures/${path}`, import.meta.url));
const MARKER = '/tmp/weightmark-pwned';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when a model is registered as a .pt checkpoint, then it is read and stored as pt', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).field('name', 'lenet5 from torch').attach('file', file('pt/lenet5.pt'), 'lenet5.pt');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'registerModel');
  assert.equal(res.body.format, 'pt');
  assert.equal(res.body.paramCount, 431080);
});

test('when a verifier uploads a .pt training checkpoint of the marked model, then it verifies as a match', async () => {
  const owner = await s.http.post('/v1/models').set(as('issuer')).field('name', 'lenet5 owner').field('arch', 'lenet5')
    .attach('file', file('torch/input_lenet5.safetensors'), 'owner.safetensors').attach('key', file('torch/key.json'), 'key.json');
  assert.equal(owner.status, 201, JSON.stringify(owner.body));
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file('pt/lenet5_checkpoint.pt'), 'suspect.pt');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'match');
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
