import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import jwt from 'jsonwebtoken';
import { startTestServer, assertContract, assertProblem, StandInExecutor, type TestServer } from './http-helpers.js';
import { readSse, type SseEvent } from './sse-helpers.js';
import { listZipEntries, readZipEntry } from '../src/formats/zip.js';
import { DEFAULT_READ_LIMITS } from '../src/formats/types.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { readModel } from '../src/formats/index.js';

let s: TestServer;
const executor = new StandInExecutor(6, 25);
before(async () => {
  s = await startTestServer({ executor });
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

async function waitFor(id: string, states = ['succeeded', 'failed', 'cancelled']): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const j = await s.http.get(`/v1/jobs/${id}`).set(as('issuer'));
    if (states.includes(j.body.status)) return j.body;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`job ${id} did not reach ${states}`);
}

async function sse(path: string): Promise<SseEvent[]> {
  const r = await readSse(s.url + path, as('auditor'));
  assert.equal(r.contentType, 'text/event-stream');
  return r.events;
}

async function jwksVerify(token: string): Promise<jwt.JwtPayload> {
  const jwks = (await s.http.get('/.well-known/jwks.json')).body as { keys: (crypto.JsonWebKey & { kid: string })[] };
  const kid = jwt.decode(token, { complete: true })!.header.kid;
  const jwk = jwks.keys.find((k) => k.kid === kid);
  assert.ok(jwk, `kid ${kid} not in JWKS`);
  return jwt.verify(token, crypto.createPublicKey({ key: jwk, format: 'jwk' }), { algorithms: ['ES256'] }) as jwt.JwtPayload;
}

let ownerModelId = '';

test('when an issuer starts training, then a job runs off the request, streams progress and registers the model with its key', async () => {
  const res = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, limit: 100, strategy: 'naive' });
  assert.equal(res.status, 202);
  assertContract(res, 'trainModel');
  assert.equal(res.body.status, 'queued');
  const events = await sse(`/v1/jobs/${res.body.id}/events`);
  assert.ok(events.some((e) => e.event === 'progress'), JSON.stringify(events.map((e) => e.event)));
  assert.equal(events[events.length - 1]!.data.status, 'succeeded');
  const job = await waitFor(res.body.id);
  const result = job.result as { modelId: string; keyId: string };
  ownerModelId = result.modelId;
  const model = await s.http.get(`/v1/models/${ownerModelId}`).set(as('auditor'));
  assertContract(model, 'getModel');
  assert.equal(model.body.source, 'training');
  assert.equal(model.body.ownerKeyId, result.keyId);
  const actions = (await s.http.get('/v1/audit/events').set(as('auditor'))).body.items.map((e: { action: string }) => e.action);
  assert.deepEqual(actions.filter((a: string) => a.startsWith('job.') || a.startsWith('model.')), ['job.submit', 'model.train', 'job.succeeded']);
});

test('when the client watching a job disconnects, then the job still runs to the end', async () => {
  const res = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, strategy: 'none' });
  await new Promise<void>((resolve) => {
    const req = http.get(`${s.url}/v1/jobs/${res.body.id}/events`, { headers: as('auditor') }, (r) => {
      r.once('data', () => {
        req.destroy();
        resolve();
      });
    });
  });
  assert.equal((await waitFor(res.body.id)).status, 'succeeded');
});

test('when two jobs are submitted, then the second waits in the queue until the first is done', async () => {
  const a = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1 });
  const b = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1 });
  await waitFor(a.body.id, ['running']);
  assert.equal((await s.http.get(`/v1/jobs/${b.body.id}`).set(as('issuer'))).body.status, 'queued');
  await waitFor(b.body.id);
  const list = await s.http.get('/v1/jobs').set(as('auditor')).query({ status: 'succeeded' });
  assertContract(list, 'listJobs');
  assert.equal(list.body.total, 4);
});

test('when a running job is cancelled, then it ends cancelled and a second cancel is 409 WM_ERR_JOB_FINISHED', async () => {
  const slow = new StandInExecutor(400, 25);
  const t = await startTestServer({ executor: slow });
  try {
    const job = await t.http.post('/v1/models/train').set('Authorization', `Bearer ${t.tokens.issuer}`).send({ arch: 'lenet5', epochs: 1 });
    for (let i = 0; i < 100 && (await t.http.get(`/v1/jobs/${job.body.id}`).set('Authorization', `Bearer ${t.tokens.issuer}`)).body.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    const res = await t.http.delete(`/v1/jobs/${job.body.id}`).set('Authorization', `Bearer ${t.tokens.issuer}`);
    assert.equal(res.status, 202);
    assertContract(res, 'deleteJob');
    assert.equal(res.body.status, 'cancelled');
    assertProblem(await t.http.post(`/v1/jobs/${job.body.id}/cancel`).set('Authorization', `Bearer ${t.tokens.issuer}`), 409, 'WM_ERR_JOB_FINISHED', 'cancelJob');
    assert.equal((await t.http.get('/v1/models').set('Authorization', `Bearer ${t.tokens.issuer}`)).body.total, 0, 'no model from a cancelled job');
  } finally {
    await t.stop();
  }
});

let releaseId = '';
let onnxBytes: Buffer = Buffer.alloc(0);

test('when an issuer makes a release for a licensee, then a job embeds a fresh licensee key and the release becomes ready', async () => {
  const res = await s.http.post(`/v1/models/${ownerModelId}/releases`).set(as('issuer')).send({ licensee: 'acme-corp', epochs: 1 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assertContract(res, 'createRelease');
  releaseId = res.body.release.id;
  await waitFor(res.body.job.id);
  const rel = await s.http.get(`/v1/releases/${releaseId}`).set(as('auditor'));
  assertContract(rel, 'getRelease');
  assert.equal(rel.body.status, 'ready');
  assert.equal(rel.body.licensee, 'acme-corp');
  const task = executor.tasks.find((t) => t.kind === 'release');
  assert.equal(task?.kind === 'release' && task.licensee, 'acme-corp');
  const list = await s.http.get('/v1/releases').set(as('auditor')).query({ licensee: 'acme-corp' });
  assertContract(list, 'listReleases');
  assert.equal(list.body.total, 1);
});

async function download(format: string | undefined) {
  const req = s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer'));
  return (format ? req.query({ format }) : req).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
}

/** Checks a verification names the licensee (in the verdict and the full report); returns the licensee key's correlation r. */
async function licenseeMatch(body: { id: string; decision: string; leakedBy: string; claim: string }): Promise<number> {
  assert.equal(body.decision, 'match');
  assert.equal(body.leakedBy, 'acme-corp');
  assert.equal(body.claim, 'ownership');
  const full = (await s.http.get(`/v1/verifications/${body.id}`).set(as('auditor'))).body as { report: { comparisons: number; candidates: { licensee: string | null; r: number | null; decision: string; provenance: { status: string } | null }[] } };
  const licensee = full.report.candidates.find((c) => c.licensee === 'acme-corp');
  assert.equal(licensee?.decision, 'match');
  assert.equal(licensee?.provenance?.status, 'committed');
  assert.equal(typeof licensee?.r, 'number');
  assert.ok(full.report.comparisons >= 2);
  return licensee!.r!;
}
let onnxR = Number.NaN;

test('when a release is downloaded as ONNX, then one file comes with a manifest JWS that verifies offline against the JWKS', async () => {
  const res = await download('onnx');
  assert.equal(res.status, 200);
  assertContract(res, 'downloadRelease');
  onnxBytes = res.body as Buffer;
  // The default ONNX is the standard export (PyTorch names and layouts), and format=onnx is the default.
  const stored = readOnnx(new Uint8Array(onnxBytes), { asStored: true }).tensors.map((t) => `${t.name}[${t.shape}]`);
  assert.deepEqual(stored.slice(0, 2), ['conv1.weight[20,1,5,5]', 'conv1.bias[20]']);
  assert.ok(stored.includes('fc1.weight[500,800]'), stored.join(', '));
  assert.ok(Buffer.from((await download(undefined)).body as Buffer).equals(onnxBytes), 'no format means onnx');
  const manifest = await jwksVerify(String(res.headers['weightmark-manifest']));
  assert.equal(manifest.typ, 'weightmark-release-manifest');
  assert.equal(manifest.licensee, 'acme-corp');
  assert.equal(manifest.releaseId, releaseId);
  assert.equal(manifest.modelId, ownerModelId);
  assert.equal(manifest.files[0].sha256, crypto.createHash('sha256').update(onnxBytes).digest('hex'));
  assert.equal(manifest.layout, 'standard');
  assert.ok(!JSON.stringify(manifest).includes('values'), 'the manifest never carries the key');
  const again = await s.http.get(`/v1/releases/${releaseId}/manifest.jws`).set(as('auditor')).query({ format: 'onnx' });
  assertContract(again, 'getReleaseManifest');
  assert.equal(again.text, res.headers['weightmark-manifest']);
});

test('when a release is downloaded as tfjs, then a zip holds model.json, its shards and manifest.jws', async () => {
  const res = await s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer')).query({ format: 'tfjs' }).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /application\/zip/);
  const zip = new Uint8Array(res.body as Buffer);
  const entries = listZipEntries(zip, DEFAULT_READ_LIMITS);
  const names = entries.map((e) => e.name);
  assert.ok(names.includes('model.json') && names.includes('manifest.jws'), names.join(','));
  const jws = Buffer.from(readZipEntry(zip, entries.find((e) => e.name === 'manifest.jws')!)).toString().trim();
  const manifest = await jwksVerify(jws);
  for (const f of manifest.files as { name: string; sha256: string }[]) {
    const e = entries.find((x) => x.name === f.name)!;
    assert.equal(crypto.createHash('sha256').update(readZipEntry(zip, e)).digest('hex'), f.sha256);
  }
});

test('when the leaked ONNX release is verified, then it matches and names the licensee', async () => {
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', onnxBytes, 'found-on-the-internet.onnx');
  assert.equal(res.status, 201, JSON.stringify(res.body).slice(0, 500));
  assertContract(res, 'createVerification');
  onnxR = await licenseeMatch(res.body);
});

test('when the same release is verified as standard ONNX, as safetensors and as onnx-nhwc, then the licensee key scores the same r in all three (every keyed value carried exactly)', async () => {
  const st = await download('safetensors');
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', st.body as Buffer, 'leak.safetensors');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 500));
  assert.equal(await licenseeMatch(v.body), onnxR);
});

test('when a release is downloaded as onnx-nhwc, then it is the NHWC graph with canonical tensors, and verifies like the standard export', async () => {
  const res = await download('onnx-nhwc');
  assert.equal(res.status, 200);
  assertContract(res, 'downloadRelease');
  assert.match(String(res.headers['content-disposition']), /model-nhwc\.onnx/);
  const bytes = res.body as Buffer;
  const manifest = await jwksVerify(String(res.headers['weightmark-manifest']));
  assert.equal(manifest.format, 'onnx-nhwc');
  assert.equal(manifest.layout, 'nhwc');
  assert.equal(manifest.files[0].sha256, crypto.createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(readOnnx(new Uint8Array(bytes), { asStored: true }).tensors.map((t) => t.name).slice(0, 2), ['conv1/kernel', 'conv1/bias']);
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', bytes, 'leak-nhwc.onnx');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 500));
  assert.equal(await licenseeMatch(v.body), onnxR);
});

test('when a release is downloaded as pt, then it is the PyTorch state_dict as torch.save writes it, covered by the manifest, and verifies naming the licensee', async () => {
  const res = await download('pt');
  assert.equal(res.status, 200);
  assertContract(res, 'downloadRelease');
  const bytes = res.body as Buffer;
  const manifest = await jwksVerify(String(res.headers['weightmark-manifest']));
  assert.equal(manifest.format, 'pt');
  assert.equal(manifest.files[0].sha256, crypto.createHash('sha256').update(bytes).digest('hex'));
  const read = readModel([{ name: 'leak.pt', bytes: new Uint8Array(bytes) }]);
  assert.equal(read.format, 'pt');
  assert.deepEqual(read.params.tensors.slice(0, 2).map((t) => `${t.name}[${t.shape}]`), ['conv1.weight[20,1,5,5]', 'conv1.bias[20]']);
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', bytes, 'leak.pt');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 500));
  assert.equal(await licenseeMatch(v.body), onnxR);
});

test('when a download names an unknown format, then 400 WM_ERR_VALIDATION', async () => {
  const res = await s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer')).query({ format: 'onnx-nchw' });
  assertProblem(res, 400, 'WM_ERR_VALIDATION', 'downloadRelease');
});

test('when the signing key is rotated, then new reports use the new kid and old manifests still verify', async () => {
  const old = (await s.http.get(`/v1/releases/${releaseId}/manifest.jws`).set(as('auditor')).query({ format: 'onnx' })).text;
  const rot = await s.http.post('/v1/signing-keys/rotate').set(as('admin'));
  assertContract(rot, 'rotateSigningKey');
  assert.notEqual(rot.body.kid, rot.body.previous);
  await jwksVerify(old);
  const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', onnxBytes, 'again.onnx');
  assert.equal(jwt.decode(res.body.verdictJws, { complete: true })!.header.kid, rot.body.kid);
  await jwksVerify(res.body.verdictJws);
  assert.equal((await s.http.get('/v1/models').set(as('auditor'))).status, 200, 'tokens signed by the old key still work');
});

test('when a release is asked of a model without a key, then 409 WM_ERR_MODEL_HAS_NO_KEY', async () => {
  const t = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, strategy: 'none' });
  const job = await waitFor(t.body.id);
  const mid = (job.result as { modelId: string }).modelId;
  assertProblem(await s.http.post(`/v1/models/${mid}/releases`).set(as('issuer')).send({ licensee: 'x' }), 409, 'WM_ERR_MODEL_HAS_NO_KEY', 'createRelease');
  assertProblem(await s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer')).query({ format: 'pdf' }), 400, 'WM_ERR_VALIDATION', 'downloadRelease');
});
