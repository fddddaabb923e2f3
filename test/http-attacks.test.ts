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
const as = (role: 'issuer' | 'auditor' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

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

  // The result links its plot, served as SVG to the roles that read the job, drawn from these numbers.
  assert.equal(job.result.plot, `/v1/jobs/${job.id}/plot.svg`);
  const plot = await s.http.get(job.result.plot).set(as('auditor')).buffer(true).parse((r, cb) => {
    let text = '';
    r.on('data', (c: Buffer) => (text += c.toString()));
    r.on('end', () => cb(null, text));
  });
  assert.equal(plot.status, 200);
  assertContract(plot, 'getAttackPlot');
  const svg = String(plot.body);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /k-bit quantization/);
  assert.equal(svg.match(/<path class="series"/g)?.length, 2, 'one line per panel for the one model');
  assertProblem(await s.http.get(job.result.plot).set(as('verifier')), 403, 'WM_ERR_FORBIDDEN', 'getAttackPlot');
});

test('when the job is not an attack, or the attack did not succeed, then its plot is 404 / 409', { timeout: 60_000 }, async () => {
  // Cancelled at once: a fine-tuning sweep cannot finish before the cancel arrives.
  const attack = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ attack: 'fine-tune', strengths: [1, 2, 3], testLimit: 200 });
  assert.equal((await s.http.post(`/v1/jobs/${attack.body.id}/cancel`).set(as('issuer'))).status, 202);
  assertProblem(await s.http.get(`/v1/jobs/${attack.body.id}/plot.svg`).set(as('issuer')), 409, 'WM_ERR_PLOT_NOT_READY', 'getAttackPlot');
  const train = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, limit: 100 });
  assert.equal(train.status, 202, JSON.stringify(train.body));
  await s.http.post(`/v1/jobs/${train.body.id}/cancel`).set(as('issuer'));
  const notAttack = await s.http.get(`/v1/jobs/${train.body.id}/plot.svg`).set(as('issuer'));
  assertProblem(notAttack, 404, 'WM_ERR_PLOT_NOT_FOUND', 'getAttackPlot');
  assert.match(notAttack.body.detail, /train job/);
  assertProblem(await s.http.get('/v1/jobs/job_doesNotExist/plot.svg').set(as('issuer')), 404, 'WM_ERR_JOB_NOT_FOUND', 'getAttackPlot');
});

test('when the attack is unknown or the role is a verifier, then 400 / 403', async () => {
  const bad = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ attack: 'melt' });
  assertProblem(bad, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(bad.body.detail, /quantize/);
  assertProblem(await s.http.post(`/v1/models/${modelId}/attacks`).set(as('verifier')).send({ attack: 'noise' }), 403, 'WM_ERR_FORBIDDEN', 'startAttack');
});

test('when the attack cannot run on the model\'s architecture, then 422 says why and no job is queued', async () => {
  const jobsBefore = (await s.http.get('/v1/jobs').set(as('issuer'))).body.total;
  assert.equal(typeof jobsBefore, 'number');
  const bn = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ attack: 'bn-reestimate', quick: true });
  assertProblem(bn, 422, 'WM_ERR_ATTACK_UNFIT', 'startAttack');
  assert.match(bn.body.detail, /lenet5 has no batch norm/);
  const chain = await s.http.post(`/v1/models/${modelId}/attacks`).set(as('issuer')).send({ chain: [{ attack: 'bn-reestimate', strength: 1 }, { attack: 'quantize' }] });
  assertProblem(chain, 422, 'WM_ERR_ATTACK_UNFIT', 'startAttack');
  assert.equal((await s.http.get('/v1/jobs').set(as('issuer'))).body.total, jobsBefore);
});

test('when a model takes inputs no built-in dataset has and was not trained here on an upload, then an attack is refused with 422 before any job, saying what it needs', async () => {
  // A licensor's own network of 8x8x2 inputs, uploaded as an ONNX graph (imported), with a key for it.
  const { generateKey, keyTargetsFromParamSet } = await import('../src/core/keygen.js');
  const { writeModel } = await import('../src/formats/index.js');
  const { readImportedModel } = await import('../src/formats/onnx/importModel.js');
  const { randomParams, tinyLenet } = await import('./attacks-reference.js');
  const onnx = writeModel(randomParams(tinyLenet, 4), 'onnx', tinyLenet)[0]!.bytes;
  const imported = readImportedModel([{ name: 'odd.onnx', bytes: onnx }])!;
  const key = generateKey(keyTargetsFromParamSet(imported.params), { n: 20, seed: 'odd-input', arch: imported.architecture.name });
  const reg = await s.http.post('/v1/models').set(as('issuer'))
    .attach('file', Buffer.from(onnx), 'odd.onnx').attach('key', Buffer.from(JSON.stringify(key)), 'k.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const jobsBefore = (await s.http.get('/v1/jobs').set(as('issuer'))).body.total;
  const res = await s.http.post(`/v1/models/${reg.body.id}/attacks`).set(as('issuer')).send({ attack: 'quantize', strengths: [4] });
  assertProblem(res, 422, 'WM_ERR_ATTACK_UNFIT', 'startAttack');
  assert.match(res.body.detail, /takes 8x8x2 inputs, which no built-in dataset has.*datasetId/);
  assert.equal((await s.http.get('/v1/jobs').set(as('issuer'))).body.total, jobsBefore, 'no job was queued');
});

test('when the attacks are listed, then the registry comes back with each attack\'s strengths, to the roles that may start or read sweeps', async () => {
  const { attackNames } = await import('../src/attacks/index.js');
  const res = await s.http.get('/v1/attacks').set(as('auditor'));
  assert.equal(res.status, 200);
  assertContract(res, 'listAttacks');
  assert.deepEqual(res.body.items.map((a: { name: string }) => a.name), attackNames());
  const quantize = res.body.items.find((a: { name: string }) => a.name === 'quantize');
  assert.deepEqual(quantize.strength, { name: 'bits', unit: 'bits', defaults: [8, 7, 6, 5, 4, 3, 2], quick: quantize.strength.quick });
  assert.equal(res.body.items.find((a: { name: string }) => a.name === 'fine-tune').needsData, true);
  assertProblem(await s.http.get('/v1/attacks').set(as('verifier')), 403, 'WM_ERR_FORBIDDEN', 'listAttacks');
});
