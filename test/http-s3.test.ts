/**
 * The service with its model files in an S3 bucket (s3rver on loopback), the store on SQLite: an
 * uploaded model, a release made by the real training worker, its download and the verification of
 * that download all go through the bucket; nothing lands under the data dir's models folder.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, assertContract, safetensorsBytes, watermarked, binaryBody, type TestServer, jobOutcome } from './http-helpers.js';
import { startS3Endpoint, type S3Endpoint } from './s3-helpers.js';

let s3: S3Endpoint;
let s: TestServer;
before(async () => {
  s3 = await startS3Endpoint('service-blobs');
  s = await startTestServer({ env: s3.env, config: { verifyWorkers: 0 } });
});
after(async () => {
  await s?.stop();
  await s3?.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when the service starts with WEIGHTMARK_S3_BUCKET, then it says so and keeps no model file on disk', () => {
  assert.equal(s.server.service.ctx.blobs.engine, 's3');
  assert.match(s.logs.find((l) => l.includes('service started')) ?? '', /"blobs":"s3"/);
  assert.equal(s.logs.join('\n').includes('S3RVER'), false, 'the S3 credentials never reach a log line');
});

test('when a model is uploaded, released to a licensee and the download is verified, then every file went through the bucket and the licensee is named', { timeout: 300_000 }, async () => {
  const owner = watermarked(5, 'key-s3-owner');
  const reg = await s.http.post('/v1/models').set(as('issuer')).field('arch', 'lenet5')
    .attach('file', safetensorsBytes(owner.params), 'owner.safetensors')
    .attach('key', Buffer.from(JSON.stringify(owner.key)), 'owner.key.json');
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const stored = reg.body.files[0].sha256 as string;
  assert.equal(s3.created.has(`models/${stored.slice(0, 2)}/${stored}`), true, 'the upload is an object in the bucket');

  const rel = await s.http.post(`/v1/models/${reg.body.id}/releases`).set(as('issuer')).send({ licensee: 'Initech', limit: 200, epochs: 1 });
  assert.equal(rel.status, 202, JSON.stringify(rel.body));
  const job = await jobOutcome(s, rel.body.job.id, 120000);
  assert.equal(job.status, 'succeeded', job.error);

  const dl = await s.http.get(`/v1/releases/${rel.body.release.id}/download`).set(as('issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
  assert.equal(dl.status, 200);
  const manifest = String(dl.headers['weightmark-manifest']);
  const signed = JSON.parse(Buffer.from(manifest.split('.')[1]!, 'base64url').toString('utf8')) as { files: { sha256: string }[] };
  for (const f of signed.files) assert.equal(s3.created.has(`models/${f.sha256.slice(0, 2)}/${f.sha256}`), true, 'the signed download is an object in the bucket');

  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, 'found.safetensors');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 300));
  assertContract(v, 'createVerification');
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.leakedBy, 'Initech');

  const local = path.join(s.dataDir, 'models');
  assert.deepEqual(fs.existsSync(local) ? fs.readdirSync(local) : [], [], 'no model file under the data dir');
  const audit = await s.http.get('/v1/audit/verify').set(as('auditor'));
  assert.equal(audit.body.ok, true);
});
