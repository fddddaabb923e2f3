/**
 * Leak tracing at licensor scale: 200 releases of one model, each with its own committed key; the
 * copy that leaks names its licensee, and only it. Also the admission bounds and the daily quota,
 * which must hold across a restart (they live in the store, not in the process).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertProblem, safetensorsBytes, lenetParams, StandInExecutor, tempDir, binaryBody, type TestServer, jobOutcome } from './http-helpers.js';

let s: TestServer;
after(async () => {
  await s?.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when 200 licensees each hold a release and one copy leaks, then verification names that licensee and no other', { timeout: 240_000 }, async () => {
  s = await startTestServer({ executor: new StandInExecutor(1, 0) });
  const train = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', dataset: 'mnist', strategy: 'naive', epochs: 1 });
  const modelId = (await jobOutcome(s, train.body.id, 60000)).result.modelId!;
  const releases: { id: string; licensee: string; job: string }[] = [];
  for (let i = 0; i < 200; i++) {
    const r = await s.http.post(`/v1/models/${modelId}/releases`).set(as('issuer')).send({ licensee: `licensee-${String(i).padStart(3, '0')}` });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    releases.push({ id: r.body.release.id, licensee: r.body.release.licensee, job: r.body.job.id });
  }
  for (const r of releases) assert.equal((await jobOutcome(s, r.job, 60000)).status, 'succeeded');
  for (const leak of [releases[137]!, releases[3]!]) {
    const dl = await s.http.get(`/v1/releases/${leak.id}/download`).set(as('issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
    const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, 'found.safetensors');
    assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 300));
    assert.equal(v.body.decision, 'match');
    assert.equal(v.body.leakedBy, leak.licensee);
    const full = (await s.http.get(`/v1/verifications/${v.body.id}`).set(as('auditor'))).body.report;
    const matched = full.candidates.filter((c: { decision: string }) => c.decision === 'match').map((c: { kind: string; licensee: string | null }) => `${c.kind}:${c.licensee}`).sort();
    assert.deepEqual(matched, [`licensee:${leak.licensee}`, 'owner:null']);
    assert.equal(full.keysScored, 201);
    assert.equal(full.references.length, 1, 'one alignment serves the owner key and all 200 licensee keys');
  }
});

test('when uploads exceed the bytes under verification or a subject runs too many at once, then 503 / 429 with Retry-After', async () => {
  await s?.stop();
  s = await startTestServer({ config: { verifyMaxBytes: 2_500_000, verifyMaxPerSubject: 1 } });
  await s.http.post('/v1/models').set(as('issuer')).attach('file', safetensorsBytes(lenetParams(1)), 'm.safetensors').attach('key', Buffer.from(JSON.stringify((await import('./http-helpers.js')).watermarked(1).key)), 'k.json');
  const big = safetensorsBytes(lenetParams(2));
  const tooBig = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', big, 'a.safetensors').attach('file', big, 'b.safetensors');
  assertProblem(tooBig, 413, 'WM_ERR_UPLOAD_TOO_LARGE', 'createVerification');
  const gate = s.server.service.ctx.verifyGate;
  const held = gate.enter('someone-else', 1_000_000);
  const busy = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', big, 'a.safetensors');
  assertProblem(busy, 503, 'WM_ERR_VERIFY_BUSY', 'createVerification');
  assert.ok(Number(busy.headers['retry-after']) >= 1);
  held.release();
  const mine = gate.enter('verifier-1', 10);
  const subjectBusy = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', big, 'a.safetensors');
  assertProblem(subjectBusy, 429, 'WM_ERR_VERIFY_SUBJECT_BUSY', 'createVerification');
  mine.release();
  assert.equal((await s.http.post('/v1/verifications').set(as('verifier')).attach('file', big, 'a.safetensors')).status, 201);
  assert.equal(gate.bytes, 0, 'every permit was given back');
  assert.ok(!s.logs.some((l) => /WM_ERR_INTERNAL/.test(l)));
});

test('when a subject used its daily quota, then 429 WM_ERR_QUOTA_EXCEEDED, still after a restart', async () => {
  await s?.stop();
  const dir = tempDir('quota');
  s = await startTestServer({ dir, config: { verifyQuotaPerDay: 2 } });
  await s.http.post('/v1/models').set(as('issuer')).attach('file', safetensorsBytes(lenetParams(1)), 'm.safetensors').attach('key', Buffer.from(JSON.stringify((await import('./http-helpers.js')).watermarked(1).key)), 'k.json');
  const file = safetensorsBytes(lenetParams(5));
  for (let i = 0; i < 2; i++) assert.equal((await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file, 's.safetensors')).status, 201);
  const over = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file, 's.safetensors');
  assertProblem(over, 429, 'WM_ERR_QUOTA_EXCEEDED', 'createVerification');
  assert.ok(Number(over.headers['retry-after']) > 0);
  await s.stop();
  s = await startTestServer({ dir, config: { verifyQuotaPerDay: 2 } });
  assertProblem(await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file, 's.safetensors'), 429, 'WM_ERR_QUOTA_EXCEEDED', 'createVerification');
  assert.equal((await s.http.post('/v1/verifications').set(as('admin')).attach('file', file, 's.safetensors')).status, 201, 'admins are exempt');
});
