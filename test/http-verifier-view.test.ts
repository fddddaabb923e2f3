/**
 * What a verifier (the role handed to outsiders) can learn from the service, and what keys it trusts:
 * answers carry the verdict and nothing finer; a key fitted to someone else's model never yields an
 * ownership claim; a key the service committed to before training does, with its commitment time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, lenetParams, safetensorsBytes, StandInExecutor, type TestServer } from './http-helpers.js';
import { cloneParamSet, type ParamSet } from '../src/core/paramSet.js';
import { readModel } from '../src/formats/index.js';
import type { WatermarkKey } from '../src/core/watermarkKey.js';

let s: TestServer;
let trainedModelId = '';
let trained: ParamSet;
let key: WatermarkKey;
before(async () => {
  s = await startTestServer({ executor: new StandInExecutor(1, 1) });
  const job = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', dataset: 'mnist', strategy: 'naive', epochs: 1 });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  let j = job.body;
  for (let i = 0; i < 200 && j.status !== 'succeeded' && j.status !== 'failed'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    j = (await s.http.get(`/v1/jobs/${job.body.id}`).set(as('issuer'))).body;
  }
  assert.equal(j.status, 'succeeded', j.error);
  trainedModelId = j.result.modelId;
  const dl = await s.http.get(`/v1/models/${trainedModelId}/key`).set(as('admin'));
  key = dl.body.key;
  const model = (await s.http.get(`/v1/models/${trainedModelId}`).set(as('auditor'))).body;
  const file = model.files[0];
  const { readFileSync } = await import('node:fs');
  trained = readModel([{ name: 'm.safetensors', bytes: new Uint8Array(readFileSync(`${s.dataDir}/models/${file.sha256.slice(0, 2)}/${file.sha256}`)) }]).params;
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

/** Removes what legitimately differs between two answers: ids, times, digests of different files. */
function stripVolatile(body: Record<string, unknown>): unknown {
  const { id: _id, createdAt: _c, verdictJws: _j, verdict, ...rest } = body as Record<string, unknown> & { verdict: Record<string, unknown> };
  const { verificationId: _v, issuedAt: _i, reportDigest: _d, suspect: _s, ...v } = verdict;
  return { ...rest, verdict: v };
}

test('when the service trains a model, then its key follows from a commitment signed and chained into the audit log before training', async () => {
  assert.equal(key.version, 2);
  assert.match(String(key.commitment), /^[0-9a-f]{64}$/);
  const events = (await s.http.get('/v1/audit/events').set(as('auditor')).query({ limit: 500 })).body.items as { seq: number; action: string; details: { digest?: string } }[];
  const commit = events.find((e) => e.action === 'key.commit' && e.details.digest === key.commitment);
  const trainedAt = events.find((e) => e.action === 'model.train');
  assert.ok(commit && trainedAt && commit.seq < trainedAt.seq, 'the commitment precedes the trained model in the chain');
  const v = await s.http.post('/v1/verifications').set(as('auditor')).attach('file', safetensorsBytes(trained), 'suspect.safetensors');
  assertContract(v, 'createVerification');
  assert.equal(v.body.claim, 'ownership');
  assert.equal(v.body.modelId, trainedModelId);
  assert.equal(v.body.report.best.provenance.status, 'committed');
  assert.equal(v.body.report.best.provenance.commitment, key.commitment);
  assert.match(v.body.report.conclusion, /committed by this service on/);
});

test("when the service trains a model, then suspects are realigned onto its anchor (the weights from before the key was drawn), and a permuted copy still names the model", async () => {
  const model = (await s.http.get(`/v1/models/${trainedModelId}`).set(as('auditor'))).body;
  assert.match(model.meta.anchor.sha256, /^[0-9a-f]{64}$/);
  const { getAttack } = await import('../src/attacks/index.js');
  const { getArchitecture } = await import('../src/core/architectures.js');
  const permuted = (await getAttack('permute').run({ ...trained, arch: 'lenet5' }, getArchitecture('lenet5'), 1, { seed: 5 })).set;
  const v = await s.http.post('/v1/verifications').set(as('auditor')).attach('file', safetensorsBytes(permuted), 'permuted.safetensors');
  assert.equal(v.status, 201);
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.modelId, trainedModelId);
  assert.equal(v.body.report.references[0].alignedOnto, 'anchor');
  assert.equal(v.body.report.best.alignment, 'invariant');
});

test('when a key is fitted to an independent model (its values read off the weights) and registered, then a match on that model is never worded as ownership', async () => {
  const victim = lenetParams(1234);
  // The forger reads n weights at positions of its choosing and calls them key values.
  const tensors = victim.tensors.map((t) => ({ name: t.name, shape: [...t.shape] }));
  const positions = Array.from({ length: 600 }, (_, i) => ({ t: 4, f: (i * 631) % victim.tensors[4]!.data.length }));
  const forged: WatermarkKey = {
    format: 'weightmark-key', version: 1, id: 'forged', arch: 'lenet5', valueKind: 'scale-matched', tensors,
    tensorIndex: positions.map((p) => p.t), flatIndex: positions.map((p) => p.f), values: positions.map((p) => victim.tensors[p.t]!.data[p.f]!),
  };
  const reg = await s.http.post('/v1/models').set(as('issuer')).field('arch', 'lenet5')
    .attach('file', safetensorsBytes(lenetParams(99)), 'mine.safetensors').attach('key', Buffer.from(JSON.stringify(forged)), 'k.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const v = await s.http.post('/v1/verifications').set(as('auditor')).attach('file', safetensorsBytes(victim), 'victim.safetensors');
  assert.equal(v.status, 201);
  assert.equal(v.body.decision, 'match', 'the numbers match — that is what a forged key achieves');
  assert.equal(v.body.claim, 'key match only');
  assert.equal(v.body.modelId, null);
  assert.equal(v.body.report.best.keyId, reg.body.ownerKeyId);
  assert.equal(v.body.report.best.provenance.status, 'unverified');
  assert.match(v.body.report.conclusion, /not evidence of ownership/);
  assert.doesNotMatch(v.body.report.conclusion, /derives from/);
});

test("when a verifier changes one keyed weight, then its answer is identical apart from ids, times and file digests (no oracle for the key's positions)", async () => {
  const p = key.tensorIndex.findIndex((t) => key.tensors[t]!.name === 'fc1/kernel');
  const changed = cloneParamSet(trained);
  const t = changed.tensors.find((x) => x.name === 'fc1/kernel')!;
  t.data[key.flatIndex[p]!] = t.data[key.flatIndex[p]!]! + 0.5;
  const a = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(trained), 'a.safetensors');
  const b = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(changed), 'b.safetensors');
  assert.equal(a.status, 201);
  assertContract(b, 'createVerification');
  assert.deepEqual(stripVolatile(b.body), stripVolatile(a.body));
  // the full reports (for auditors) do differ: the change is visible there
  const ra = (await s.http.get(`/v1/verifications/${a.body.id}`).set(as('auditor'))).body.report.best;
  const rb = (await s.http.get(`/v1/verifications/${b.body.id}`).set(as('auditor'))).body.report.best;
  assert.notEqual(ra.r, rb.r);
  // and the near-identical re-upload is flagged for the people reading the log
  const flags = (await s.http.get('/v1/audit/events').set(as('auditor')).query({ action: 'verification.near-duplicate' })).body.items;
  assert.ok(flags.some((e: { target: string; details: { similarTo: string[] } }) => e.target === b.body.id && e.details.similarTo.includes(a.body.id)));
});

test('when a verifier asks for no-match answers, then they name neither licensees, models nor keys', async () => {
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(lenetParams(777)), 'other.safetensors');
  assert.equal(v.body.decision, 'no match');
  const text = JSON.stringify(v.body);
  assert.ok(!text.includes(trainedModelId) && !text.includes('key_'), text);
  const list = await s.http.get('/v1/verifications').set(as('verifier'));
  assertContract(list, 'listVerifications');
  assert.ok(list.body.items.every((i: Record<string, unknown>) => !('pValue' in i)));
});
