import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import jwt from 'jsonwebtoken';
import { startTestServer, sqliteDb, assertContract, assertProblem, watermarked, lenetParams, safetensorsBytes, type TestServer } from './http-helpers.js';
import { cloneParamSet } from '../src/core/paramSet.js';

let s: TestServer;
const owner = watermarked(3, 'key-owner-3');
let modelId = '';
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

async function jwksVerify(token: string): Promise<jwt.JwtPayload> {
  const jwks = (await s.http.get('/.well-known/jwks.json')).body as { keys: (crypto.JsonWebKey & { kid: string })[] };
  const kid = (jwt.decode(token, { complete: true })!.header as jwt.JwtHeader).kid;
  const jwk = jwks.keys.find((k) => k.kid === kid)!;
  return jwt.verify(token, crypto.createPublicKey({ key: jwk, format: 'jwk' }), { algorithms: ['ES256'] }) as jwt.JwtPayload;
}

test('when an issuer registers a model with its key, then it is stored and the key is not returned', async () => {
  const res = await s.http
    .post('/v1/models')
    .set(as('issuer'))
    .field('name', 'lenet owner')
    .field('arch', 'lenet5')
    .attach('file', safetensorsBytes(owner.params), 'owner.safetensors')
    .attach('key', Buffer.from(JSON.stringify(owner.key)), 'owner.key.json');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'registerModel');
  modelId = res.body.id;
  assert.equal(res.body.format, 'safetensors');
  assert.ok(res.body.ownerKeyId);
  assert.ok(!JSON.stringify(res.body).includes(String(owner.key.values[0])));
  const file = res.body.files[0];
  assert.ok(fs.existsSync(`${s.dataDir}/models/${file.sha256.slice(0, 2)}/${file.sha256}`));
});

test('when the key does not fit the model, then 422 WM_ERR_KEY_MALFORMED', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).attach('file', safetensorsBytes(owner.params), 'm.safetensors').attach('key', Buffer.from('{"format":"nope"}'), 'k.json');
  assertProblem(res, 422, 'WM_ERR_KEY_MALFORMED', 'registerModel');
});

test('when a verifier uploads a copy of the watermarked model, then 201 match with the verdict only, signed', async () => {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(owner.params), 'suspect.safetensors');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'match');
  assert.equal(res.body.evidence, 'p < 1e-06');
  // the key was uploaded with the model: its provenance is unverified, so the match is not an ownership claim
  assert.equal(res.body.claim, 'key match only');
  assert.equal(res.body.modelId, null);
  for (const hidden of ['report', 'reportJws', 'pValue', 'log10p']) assert.ok(!(hidden in res.body), `a verifier saw ${hidden}`);
  const payload = await jwksVerify(res.body.verdictJws);
  assert.equal(payload.typ, 'weightmark-verification-verdict');
  assert.equal(payload.verificationId, res.body.id);
  assert.equal(payload.decision, 'match');
  const jws = await s.http.get(`/v1/verifications/${res.body.id}/report.jws`).set(as('verifier'));
  assert.equal(jws.status, 200);
  assertContract(jws, 'getVerificationReport');
  assert.equal(jws.text, res.body.verdictJws);
  const full = await s.http.get(`/v1/verifications/${res.body.id}`).set(as('auditor'));
  assertContract(full, 'getVerification');
  assert.equal(full.body.report.best.kind, 'owner');
  assert.equal(full.body.report.best.modelId, modelId);
  assert.equal(full.body.report.best.provenance.status, 'unverified');
  assert.match(full.body.report.conclusion, /not evidence of ownership/);
  assert.ok(full.body.log10p < -20, `log10p ${full.body.log10p}`);
  assert.ok(full.body.report.best.layers.length >= 3);
  assert.equal((await jwksVerify(full.body.reportJws)).typ, 'weightmark-verification-report');
  assert.equal((await s.http.get(`/v1/verifications/${res.body.id}/report.jws`).set(as('auditor'))).text, full.body.reportJws);
});

test('when the suspect is a tfjs model uploaded as model.json plus shards, then it is read and matches', async () => {
  const { writeTfjs } = await import('../src/formats/tfjs.js');
  const { getArchitecture } = await import('../src/core/architectures.js');
  const files = writeTfjs(owner.params, getArchitecture('lenet5'), { shardBytes: 1024 * 1024 });
  assert.ok(files.length >= 3);
  let req = s.http.post('/v1/verifications').set(as('verifier'));
  for (const f of files) req = req.attach('file', Buffer.from(f.bytes), f.name);
  const res = await req;
  assert.equal(res.status, 201, JSON.stringify(res.body).slice(0, 300));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'match');
  const full = await s.http.get(`/v1/verifications/${res.body.id}`).set(as('auditor'));
  assert.equal(full.body.report.suspect.format, 'tfjs');
});

test('when a suspect is an unrelated model, then 201 "no match" with its p-value (not an error)', async () => {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(lenetParams(99)), 'other.safetensors');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'no match');
  assert.equal(res.body.evidence, 'p ≥ 1e-06');
  assert.equal(res.body.claim, 'none');
  const full = await s.http.get(`/v1/verifications/${res.body.id}`).set(as('auditor'));
  assert.ok(full.body.pValue > 1e-6, `p ${full.body.pValue}`);
});

test('when the suspect has another architecture altogether, then 201 "no match" and the candidate says why it was not aligned', async () => {
  const other = { tensors: [{ name: 'dense/kernel', shape: [10, 3], data: new Float32Array(30).fill(0.1) }, { name: 'dense/bias', shape: [3], data: new Float32Array(3) }] };
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(other), 'tiny.safetensors');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'no match');
  const full = await s.http.get(`/v1/verifications/${res.body.id}`).set(as('auditor'));
  assert.equal(full.body.pValue, 1);
  assert.equal(full.body.report.references[0].aligned, false);
  assert.match(full.body.report.references[0].failure, /Cannot map/);
});

test('when the watermarked weights are perturbed by noise, then it is still a match', async () => {
  const noisy = cloneParamSet(owner.params);
  let seed = 5;
  for (const t of noisy.tensors) for (let i = 0; i < t.data.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    t.data[i]! += ((seed / 0x7fffffff) - 0.5) * 0.02;
  }
  const res = await s.http.post('/v1/verifications').set(as('auditor')).field('modelId', modelId).attach('file', safetensorsBytes(noisy), 'noisy.safetensors');
  assert.equal(res.status, 201);
  assert.equal(res.body.decision, 'match');
  assert.equal(res.body.report.scope.modelId, modelId);
  assert.ok(res.body.report.best.r > 0.5 && res.body.report.best.r < 1);
});

test("when a verifier reads another subject's report, then 403; an auditor may", async () => {
  const mine = await s.http.get('/v1/verifications').set(as('verifier'));
  assertContract(mine, 'listVerifications');
  assert.equal(mine.body.items.length, 4);
  const id = mine.body.items[0].id;
  const other = s.server.service.ctx.signing.mintToken({ sub: 'verifier-2', role: 'verifier', ttlSec: 60, issuer: 'weightmark', audience: 'weightmark-api' });
  assertProblem(await s.http.get(`/v1/verifications/${id}`).set('Authorization', `Bearer ${other}`), 403, 'WM_ERR_FORBIDDEN', 'getVerification');
  const auditor = await s.http.get(`/v1/verifications/${id}`).set(as('auditor'));
  assert.equal(auditor.status, 200);
  assertContract(auditor, 'getVerification');
  assert.equal((await s.http.get('/v1/verifications').set(as('auditor'))).body.total, 5);
});

test('when verifying against an unknown licensee, then 404 WM_ERR_LICENSEE_NOT_FOUND', async () => {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).field('licensee', 'nobody').attach('file', safetensorsBytes(owner.params), 's.safetensors');
  assertProblem(res, 404, 'WM_ERR_LICENSEE_NOT_FOUND', 'createVerification');
});

test('when only an admin exports the key, then it matches the one registered; the export is audited', async () => {
  assertProblem(await s.http.get(`/v1/models/${modelId}/key`).set(as('issuer')), 403, 'WM_ERR_FORBIDDEN', 'exportModelKey');
  const res = await s.http.get(`/v1/models/${modelId}/key`).set(as('admin'));
  assert.equal(res.status, 200);
  assertContract(res, 'exportModelKey');
  assert.deepEqual(res.body.key.values, owner.key.values);
  const events = await s.http.get('/v1/audit/events').set(as('auditor')).query({ action: 'key.export' });
  assert.equal(events.body.items.length, 1);
});

test('when the service logs and answers non-admin roles, then no key material ever appears', async () => {
  const needles = [owner.key.values.slice(0, 3).map(String).join(','), JSON.stringify(owner.key.flatIndex.slice(0, 4))];
  const sealed = (sqliteDb(s.server).prepare('SELECT sealed FROM watermark_keys').all() as { sealed: string }[]).map((r) => r.sealed);
  const master = fs.readFileSync(`${s.keysDir}/master.key`, 'utf8').trim();
  const logText = s.logs.join('\n');
  for (const n of [...needles, ...sealed, master]) assert.ok(!logText.includes(n), `log leaked ${n.slice(0, 20)}`);
  assert.ok(!logText.includes(s.tokens.admin), 'log leaked a bearer token');
  for (const role of ['issuer', 'auditor'] as const) {
    for (const url of ['/v1/models', `/v1/models/${modelId}`, '/v1/audit/events?limit=500', '/v1/verifications']) {
      const body = (await s.http.get(url).set(as(role))).text;
      for (const n of [...needles, ...sealed]) assert.ok(!body.includes(n), `${role} ${url} leaked key material`);
    }
  }
  // the key on disk is sealed: its values are not in the database file in clear
  const db = fs.readFileSync(`${s.dataDir}/weightmark.db`).toString('latin1') + fs.readFileSync(`${s.dataDir}/weightmark.db-wal`).toString('latin1');
  assert.ok(!db.includes(needles[0]!), 'key values stored in clear');
});

test('when the suspect diverged (every weight NaN), then 201 no match — not a 500', async () => {
  const nan = cloneParamSet(owner.params);
  for (const t of nan.tensors) t.data.fill(Number.NaN);
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', safetensorsBytes(nan), 'diverged.safetensors');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'createVerification');
  assert.equal(res.body.decision, 'no match');
});
