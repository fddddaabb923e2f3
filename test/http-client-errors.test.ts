import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, assertProblem, assertContract, type TestServer } from './http-helpers.js';

let s: TestServer;
before(async () => {
  s = await startTestServer({ config: { jsonBodyLimitBytes: 2048, uploadMaxFileBytes: 64 * 1024, uploadMaxFiles: 3 } });
});
after(async () => {
  await s.stop();
});
const admin = () => ({ Authorization: `Bearer ${s.tokens.admin}` });
const uploadsLeft = (): string[] => fs.readdirSync(path.join(s.dataDir, 'tmp', 'uploads'));

test('when the JSON body is malformed, then 400 WM_ERR_MALFORMED_JSON', async () => {
  const res = await s.http.post('/v1/models/train').set(admin()).set('Content-Type', 'application/json').send('{"arch": "lenet5",');
  assertProblem(res, 400, 'WM_ERR_MALFORMED_JSON', 'trainModel');
});

test('when the JSON body exceeds the limit, then 413 WM_ERR_BODY_TOO_LARGE', async () => {
  const res = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'lenet5', epochs: 1, name: 'x'.repeat(4000) });
  assertProblem(res, 413, 'WM_ERR_BODY_TOO_LARGE', 'trainModel');
});

test('when the body is sent as text/plain, then 415 WM_ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
  const res = await s.http.post('/v1/models/train').set(admin()).set('Content-Type', 'text/plain').send('arch=lenet5');
  assertProblem(res, 415, 'WM_ERR_UNSUPPORTED_MEDIA_TYPE', 'trainModel');
});

test('when the body breaks the contract, then 400 WM_ERR_VALIDATION naming each field', async () => {
  const res = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'lenet5', epochs: -1, colour: 'red' });
  assertProblem(res, 400, 'WM_ERR_VALIDATION', 'trainModel');
  const paths = res.body.errors.map((e: { path: string }) => e.path);
  assert.ok(paths.includes('body/epochs'), JSON.stringify(paths));
  assert.ok(paths.includes('body/colour'), JSON.stringify(paths));
});

test('when the architecture is unknown, then 400 WM_ERR_ARCH_UNKNOWN listing the supported ones', async () => {
  const res = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'gpt-7', epochs: 1 });
  assertProblem(res, 400, 'WM_ERR_ARCH_UNKNOWN', 'trainModel');
  assert.match(res.body.detail, /lenet5/);
});

test('when the dataset does not fit the architecture, then 422 WM_ERR_DATASET_MISMATCH naming the datasets that do, and no job is queued', async () => {
  const before = (await s.http.get('/v1/jobs').set(admin())).body.items.length;
  const res = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'resnet32', dataset: 'mnist', epochs: 1 });
  assertProblem(res, 422, 'WM_ERR_DATASET_MISMATCH', 'trainModel');
  assert.match(res.body.detail, /resnet32 takes 32x32x3 inputs; mnist has 28x28x1 images. Datasets that fit: cifar10/);
  const back = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'lenet5', dataset: 'cifar10', epochs: 1 });
  assertProblem(back, 422, 'WM_ERR_DATASET_MISMATCH', 'trainModel');
  assert.match(back.body.detail, /fit: mnist, fashion-mnist/);
  assert.equal((await s.http.get('/v1/jobs').set(admin())).body.items.length, before);
  // without a dataset, the one the architecture's input fits
  const fits = await s.http.post('/v1/models/train').set(admin()).send({ arch: 'resnet32', epochs: 1, limit: 10 });
  assert.equal(fits.status, 202, JSON.stringify(fits.body));
  assert.equal(fits.body.input.dataset, 'cifar10');
  await s.http.delete(`/v1/jobs/${fits.body.id}`).set(admin());
});

test('when an id is well formed but unknown, then 404 with the resource code', async () => {
  const id = 'mdl_AAAAAAAAAAAAAAAAAAAA';
  assertProblem(await s.http.get(`/v1/models/${id}`).set(admin()), 404, 'WM_ERR_MODEL_NOT_FOUND', 'getModel');
  assertProblem(await s.http.get(`/v1/jobs/job_AAAAAAAAAAAAAAAA`).set(admin()), 404, 'WM_ERR_JOB_NOT_FOUND', 'getJob');
  assertProblem(await s.http.get(`/v1/releases/rel_AAAAAAAAAAAAAAAA`).set(admin()), 404, 'WM_ERR_RELEASE_NOT_FOUND', 'getRelease');
  assertProblem(await s.http.get(`/v1/verifications/ver_AAAAAAAAAAAAAAAA`).set(admin()), 404, 'WM_ERR_VERIFICATION_NOT_FOUND', 'getVerification');
});

test('when an id is malformed, then 400 WM_ERR_VALIDATION', async () => {
  assertProblem(await s.http.get('/v1/models/..%2F..%2Fetc').set(admin()), 400, 'WM_ERR_VALIDATION', 'getModel');
});

test('when the route does not exist, then 404 WM_ERR_ROUTE_NOT_FOUND; a wrong method gives 405', async () => {
  assertProblem(await s.http.get('/v1/nothing-here').set(admin()), 404, 'WM_ERR_ROUTE_NOT_FOUND');
  const res = await s.http.put('/v1/models').set(admin());
  assertProblem(res, 405, 'WM_ERR_METHOD_NOT_ALLOWED');
  assert.match(String(res.headers.allow), /GET, POST/);
});

test('when a verification upload is not multipart, then 415', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(10));
  assertProblem(res, 415, 'WM_ERR_UNSUPPORTED_MEDIA_TYPE', 'createVerification');
});

test('when the upload holds no file, then 400 WM_ERR_UPLOAD_MISSING_FILE', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).field('licensee', 'acme');
  assertProblem(res, 400, 'WM_ERR_UPLOAD_MISSING_FILE', 'createVerification');
});

test('when the uploaded file is garbage, then 415 WM_ERR_FORMAT_UNKNOWN and the temp file is gone', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).attach('file', Buffer.from('this is not a model at all'), 'suspect.bin');
  assertProblem(res, 415, 'WM_ERR_FORMAT_UNKNOWN', 'createVerification');
  assert.deepEqual(uploadsLeft(), []);
});

test('when a truncated safetensors file is uploaded, then a 4xx format error, never a 500', async () => {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [1000], data_offsets: [0, 4000] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const res = await s.http.post('/v1/verifications').set(admin()).attach('file', Buffer.concat([len, header, Buffer.alloc(10)]), 'm.safetensors');
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.match(res.body.code, /^WM_ERR_FORMAT_/);
  assertContract(res, 'createVerification');
});

test('when crafted garbage in every supported container is uploaded, then each answer is a 4xx problem, never a 500', async () => {
  const npy = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, 0x20, 0]), Buffer.from("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }".padEnd(32, ' '))]);
  const bodies: [string, Buffer][] = [
    ['empty.bin', Buffer.alloc(0)],
    ['a.zip', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(60, 0xff)])],
    ['model.json', Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }] }))],
    ['m.onnx', Buffer.from([0x08, 0x07, 0x12, 0x04, 0x74, 0x65, 0x73, 0x74, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f])],
    ['x.npy', npy],
    ['s.safetensors', Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), Buffer.from('{}')])],
  ];
  for (const [name, bytes] of bodies) {
    const res = await s.http.post('/v1/verifications').set(admin()).attach('file', bytes, name);
    assert.ok(res.status >= 400 && res.status < 500, `${name}: status ${res.status} ${JSON.stringify(res.body)}`);
    assertContract(res, 'createVerification');
  }
  assert.deepEqual(uploadsLeft(), []);
});

test('when an uploaded file exceeds the size limit, then 413 WM_ERR_UPLOAD_TOO_LARGE and no temp file stays', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).attach('file', Buffer.alloc(200 * 1024, 1), 'big.bin');
  assertProblem(res, 413, 'WM_ERR_UPLOAD_TOO_LARGE', 'createVerification');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(uploadsLeft(), []);
});

test('when too many files are uploaded, then 413 WM_ERR_UPLOAD_TOO_MANY_FILES', async () => {
  let req = s.http.post('/v1/verifications').set(admin());
  for (let i = 0; i < 5; i++) req = req.attach('file', Buffer.from('x'), `f${i}.bin`);
  assertProblem(await req, 413, 'WM_ERR_UPLOAD_TOO_MANY_FILES', 'createVerification');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(uploadsLeft(), []);
});

test('when a form field breaks the contract, then 400 WM_ERR_VALIDATION naming it', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).field('modelId', '../../etc').attach('file', Buffer.from('x'), 'm.bin');
  assertProblem(res, 400, 'WM_ERR_VALIDATION', 'createVerification');
  assert.equal(res.body.errors[0].path, 'form/modelId');
  assert.deepEqual(uploadsLeft(), []);
});

test('when an unexpected file field is used, then 400 WM_ERR_UPLOAD_MALFORMED', async () => {
  const res = await s.http.post('/v1/verifications').set(admin()).attach('model', Buffer.from('x'), 'm.bin');
  assertProblem(res, 400, 'WM_ERR_UPLOAD_MALFORMED', 'createVerification');
});

test('when the multipart body is cut short, then 400 and no temp file stays', async () => {
  const boundary = '----wmtest';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\nabcdef`;
  const res = await s.http.post('/v1/verifications').set(admin()).set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body);
  assertProblem(res, 400, 'WM_ERR_UPLOAD_MALFORMED', 'createVerification');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(uploadsLeft(), []);
});

test('when a problem type URI is followed, then it describes the code', async () => {
  const res = await s.http.get('/problems/model-not-found');
  assert.equal(res.status, 200);
  assertContract(res, 'getProblemType');
  assert.equal(res.body.code, 'WM_ERR_MODEL_NOT_FOUND');
  assert.equal(res.body.status, 404);
});

test('when the same token exceeds the rate limit, then 429 WM_ERR_RATE_LIMITED with Retry-After', async () => {
  const t = await startTestServer({ config: { rateLimitPerMin: 3 } });
  try {
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await t.http.get('/v1/models').set('Authorization', `Bearer ${t.tokens.auditor}`)).status);
    assert.deepEqual(codes.slice(0, 3), [200, 200, 200]);
    const res = await t.http.get('/v1/models').set('Authorization', `Bearer ${t.tokens.auditor}`);
    assertProblem(res, 429, 'WM_ERR_RATE_LIMITED', 'listModels');
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.equal((await t.http.get('/v1/models').set('Authorization', `Bearer ${t.tokens.issuer}`)).status, 200, 'another token has its own budget');
  } finally {
    await t.stop();
  }
});

test('when any response is sent, then it carries the security headers and a request id', async () => {
  const res = await s.http.get('/healthz');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['x-frame-options'], 'DENY');
  assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
  assert.equal(res.headers['x-powered-by'], undefined);
  assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});
