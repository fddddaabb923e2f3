import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, assertProblem, watermarked, safetensorsBytes, type TestServer } from './http-helpers.js';

// A chain sweep (low-rank, then 8-bit quantization; pure, so no tfjs) in the worker process.
let s: TestServer;
let modelId = '';
before(async () => {
  s = await startTestServer();
  const w = watermarked(9, 'chain-key');
  const reg = await s.http.post('/v1/models').set('Authorization', `Bearer ${s.tokens.issuer}`).field('arch', 'lenet5')
    .attach('file', safetensorsBytes(w.params), 'm.safetensors').attach('key', Buffer.from(JSON.stringify(w.key)), 'k.json');
  modelId = reg.body.id;
});
after(async () => {
  await s.stop();
});
const issuer = () => ({ Authorization: `Bearer ${s.tokens.issuer}` });
const attack = (body: unknown) => s.http.post(`/v1/models/${modelId}/attacks`).set(issuer()).send(body as object);

test('when an issuer sweeps a chain whose first step is open, then the job sweeps that step and reports the chain by name', { timeout: 120_000 }, async () => {
  const res = await attack({ chain: [{ attack: 'low-rank', options: { layers: 'fc1,fc2' } }, { attack: 'quantize', strength: 8 }], strengths: [50, 3], testLimit: 200 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assertContract(res, 'startAttack');
  let job = res.body;
  for (let i = 0; i < 1200 && !['succeeded', 'failed'].includes(job.status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    job = (await s.http.get(`/v1/jobs/${res.body.id}`).set(issuer())).body;
  }
  assert.equal(job.status, 'succeeded', job.error);
  const { attack: info, series } = job.result.sweep;
  assert.equal(info.name, 'low-rank[layers=fc1,fc2],quantize:8');
  assert.equal(info.strengthName, 'rank kept');
  assert.deepEqual(series[0].points.map((p: { strength: number }) => p.strength), [50, 3]);
  assert.ok(series[0].points[0].r > series[0].points[1].r, 'rank 3 erodes the mark more than rank 50');
});

test('when a chain is malformed or both attack and chain are given, then 400 problem+json says what was found', async () => {
  const unknown = await attack({ chain: [{ attack: 'low-rank', strength: 5 }, { attack: 'melt', strength: 1 }] });
  assertProblem(unknown, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(unknown.body.detail, /chain step 2: Unknown attack 'melt'\. Known attacks are: .*low-rank/);
  const twoOpen = await attack({ chain: [{ attack: 'low-rank' }, { attack: 'fine-tune' }] });
  assertProblem(twoOpen, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(twoOpen.body.detail, /only one step \(the swept one\) may leave it out/);
  const both = await attack({ attack: 'noise', chain: [{ attack: 'noise', strength: 0.1 }] });
  assertProblem(both, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(both.body.detail, /not both/);
  const neither = await attack({ strengths: [1] });
  assertProblem(neither, 400, 'WM_ERR_VALIDATION', 'startAttack');
  assert.match(neither.body.detail, /give `attack` \(one of quantize, .*\) or `chain`/);
  // The contract itself refuses a step without a name and an option that is an object.
  assertProblem(await attack({ chain: [{ strength: 1 }] }), 400, 'WM_ERR_VALIDATION', 'startAttack');
  assertProblem(await attack({ attack: 'low-rank', options: { ranks: { fc1: 15 } } }), 400, 'WM_ERR_VALIDATION', 'startAttack');
});
