import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, assertProblem, watermarked, safetensorsBytes, type TestServer } from './http-helpers.js';

// A real attack sweep in the worker process (pure attacks: quantization; accuracy through ONNX Runtime).
let s: TestServer;
let modelId = '';
before(async () => {
  s = await startTestServer();
  const w = watermarked(8, 'attack-key');
  const reg = await s.http.post('/v1/models').set('Authorization', `Bearer ${s.tokens.issuer}`).field('arch', 'lenet5')
    .attach('file', safetensorsBytes(w.params), 'm.safetensors').attach('key', Buffer.from(JSON.stringify(w.key)), 'k.json');
  modelId = reg.body.id;
});
after(async () => {
  await s.stop();
});
const as = (role: 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when an issuer sweeps a quantization attack, then the job reports accuracy and score per strength', { timeout: 60_000 }, async () => {
  const res = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ attack: 'quantize', strengths: [8, 2], testLimit: 200 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assertContract(res, 'startAttack');
  let job = res.body;
  for (let i = 0; i < 300 && !['succeeded', 'failed'].includes(job.status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    job = (await s.http.get(`/v1/jobs/${res.body.id}`).set(as('issuer'))).body;
  }
  assert.equal(job.status, 'succeeded', job.error);
  const series = job.result.sweep.series[0];
  assert.deepEqual(series.points.map((p: { strength: number }) => p.strength), [8, 2]);
  assert.equal(series.points[0].decision, 'match', '8-bit quantization keeps the mark');
  assert.ok(series.points[0].r > series.points[1].r, 'a stronger attack weakens the score');
  assert.equal(typeof series.baseline.accuracy, 'number');
});

test('when the attack is unknown or the role is a verifier, then 400 / 403', async () => {
  const bad = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ attack: 'melt' });
  assertProblem(bad, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(bad.body.detail, /quantize/);
  assertProblem(await s.http.post(`/v1/models/${modelId}/attacks`).set(as('verifier')).send({ attack: 'noise' }), 403, 'WM_ERR_FORBIDDEN', 'startAttack');
});
