import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExtract } from '../src/cli/localCommands.js';
import { captured } from './cli-helpers.js';
import { startTestServer, assertContract, tempDir, type TestServer, jobOutcome } from './http-helpers.js';

// The real engines end to end: tfjs training in a child process, a licensee release by fine-tune,
// ONNX export, and verification of the leaked file. Small data (limit) keeps it under ~30 s.
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when a model is trained, released to a licensee and the release leaks, then verification names the licensee', { timeout: 90_000 }, async () => {
  const train = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'mlp', epochs: 1, limit: 300, strategy: 'naive', seed: 1 });
  assert.equal(train.status, 202);
  const tj = await jobOutcome(s, train.body.id, 60000);
  assert.equal(tj.status, 'succeeded', String(tj.error));
  assertContract({ status: 200, body: tj, headers: { 'content-type': 'application/json' } } as never, 'getJob');
  const modelId = (tj.result as { modelId: string }).modelId;

  const rel = await s.http.post(`/v1/models/${modelId}/releases`).set(as('issuer')).send({ licensee: 'globex', epochs: 1, limit: 100 });
  assert.equal(rel.status, 202);
  const rj = await jobOutcome(s, rel.body.job.id, 60000);
  assert.equal(rj.status, 'succeeded', String(rj.error));

  const dl = await s.http.get(`/v1/releases/${rel.body.release.id}/download`).set(as('issuer')).query({ format: 'onnx' }).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  assert.equal(dl.status, 200);

  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, 'leak.onnx');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 400));
  assertContract(v, 'createVerification');
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.leakedBy, 'globex');
  const full = await s.http.get(`/v1/verifications/${v.body.id}`).set({ Authorization: `Bearer ${s.tokens.auditor}` });
  const kinds = (full.body.report.candidates as { kind: string; decision: string }[]).map((c) => `${c.kind}:${c.decision}`).sort();
  assert.deepEqual(kinds, ['licensee:match', 'owner:match'], 'the leak carries both the owner mark and the licensee fingerprint');
  // Real training kept the weights from before the key was drawn; the base and its releases align onto them.
  const model = (await s.http.get(`/v1/models/${modelId}`).set(as('issuer'))).body;
  assert.match(model.meta.anchor.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual((full.body.report.references as { alignedOnto: string }[]).map((r) => r.alignedOnto), ['anchor']);

  // An attack simulation on the release scores its copies as verification does: the same reference group
  // (the base model's anchor), mask and passes, so its unattacked point is this verification's number.
  const releaseModelId = (rj.result as { releaseModelId: string }).releaseModelId;
  const atk = await s.http.post(`/v1/models/${releaseModelId}/attacks`).set(as('issuer')).send({ attack: 'quantize', strengths: [8], testLimit: 200 });
  assert.equal(atk.status, 202, JSON.stringify(atk.body));
  const aj = await jobOutcome(s, atk.body.id, 60000);
  assert.equal(aj.status, 'succeeded', String(aj.error));
  const sim = aj.result as { alignedOnto: string; sweep: { series: { baseline: { r: number; decision: string } }[] } };
  assert.equal(sim.alignedOnto, 'anchor');
  const licensee = (full.body.report.candidates as { kind: string; r: number; decision: string }[]).find((c) => c.kind === 'licensee')!;
  assert.equal(sim.sweep.series[0]!.baseline.r, licensee.r, 'the simulation reads the r verification read');
  assert.equal(sim.sweep.series[0]!.baseline.decision, licensee.decision);

  // An auditor re-reading the leak offline with the release's key and the base model's anchor reads the same
  // r with `weightmark extract` (the same core: both passes, the better kept).
  const exported = await s.http.get(`/v1/models/${releaseModelId}/key`).set(as('admin'));
  assert.equal(exported.status, 200);
  const dir = tempDir('real-pipeline-extract');
  writeFileSync(join(dir, 'leak.onnx'), dl.body as Buffer);
  writeFileSync(join(dir, 'key.json'), JSON.stringify(exported.body.key));
  const anchorBlob = join(s.dataDir, 'models', model.meta.anchor.sha256.slice(0, 2), model.meta.anchor.sha256);
  const offline = JSON.parse((await captured(() => runExtract(['--model', join(dir, 'leak.onnx'), '--key', join(dir, 'key.json'), '--anchor', anchorBlob, '--json']))).out) as { r: number; decision: string };
  assert.equal(offline.r, licensee.r, 'extract reads the r verification read');
  assert.equal(offline.decision, 'match');
});
