import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, assertContract, assertProblem, type TestServer, jobOutcome, binaryBody } from './http-helpers.js';
import { mnistNpz } from './dataset-helpers.js';

// A model trained elsewhere (PyTorch's torch.save of a LeNet5, test/fixtures/pt) gets a key by a short
// fine-tune through the API, then a release; the leak names the licensee. Real engines, small data.
const file = (path: string) => readFileSync(new URL(`./fixtures/${path}`, import.meta.url));
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });

async function upload(name: string, arch?: string): Promise<string> {
  const req = s.http.post('/v1/models').set(as('issuer')).field('name', name);
  const res = await (arch ? req.field('arch', arch) : req).attach('file', file('pt/lenet5.pt'), 'lenet5.pt');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

test('when a PyTorch-trained model is watermarked through the API, then the job reports accuracy before and after and the new model carries a committed key', { timeout: 120_000 }, async () => {
  const id = await upload('torch lenet5', 'lenet5');
  const wm = await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ epochs: 1, limit: 1000, seed: 2 });
  assert.equal(wm.status, 202, JSON.stringify(wm.body));
  assertContract(wm, 'watermarkModel');
  const job = await jobOutcome(s, wm.body.id, 90000);
  assert.equal(job.status, 'succeeded', String(job.error));
  const result = job.result as { modelId: string; keyId: string; accuracyBefore: number; testAccuracy: number };
  // The fixture was trained by PyTorch to ~99% on MNIST; a fresh key plus a 1,000-sample fine-tune keeps it close.
  assert.ok(result.accuracyBefore > 0.97, `before ${result.accuracyBefore}`);
  assert.ok(result.testAccuracy > result.accuracyBefore - 0.02, `after ${result.testAccuracy} vs before ${result.accuracyBefore}`);
  const model = (await s.http.get(`/v1/models/${result.modelId}`).set(as('issuer'))).body;
  assert.equal(model.parentModelId, id);
  assert.equal(model.ownerKeyId, result.keyId);
  assert.equal(model.meta.posthoc, true);
  assert.equal(model.meta.accuracyBefore, result.accuracyBefore);
  const events = (await s.http.get('/v1/audit/events').set(as('auditor')).query({ limit: 200 })).body.items as { action: string; target: string }[];
  assert.ok(events.some((e) => e.action === 'model.watermark' && e.target === result.modelId), 'audited as a watermark');

  const rel = await s.http.post(`/v1/models/${result.modelId}/releases`).set(as('issuer')).send({ licensee: 'initech', epochs: 1, limit: 300 });
  assert.equal(rel.status, 202);
  assert.equal((await jobOutcome(s, rel.body.job.id, 90000)).status, 'succeeded');
  const dl = await s.http.get(`/v1/releases/${rel.body.release.id}/download`).set(as('issuer')).query({ format: 'pt' }).buffer(true).parse(binaryBody);
  assert.equal(dl.status, 200);
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, 'leak.pt');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 400));
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.leakedBy, 'initech');
});

test('when the fine-tune runs on an uploaded dataset, then before and after are measured on its held-out split', { timeout: 120_000 }, async () => {
  const id = await upload('torch lenet5 on own data', 'lenet5');
  const data = await s.http.post('/v1/datasets').set(as('issuer')).attach('file', Buffer.from(mnistNpz(600)), 'mnist600.npz');
  assert.equal(data.status, 201, JSON.stringify(data.body));
  const wm = await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ datasetId: data.body.id, epochs: 1, seed: 2 });
  assert.equal(wm.status, 202, JSON.stringify(wm.body));
  const job = await jobOutcome(s, wm.body.id, 90_000);
  assert.equal(job.status, 'succeeded', String(job.error));
  const result = job.result as { accuracyBefore: number; testAccuracy: number; evaluatedOn: { datasetId: string; split: string; samples: number } };
  assert.deepEqual(result.evaluatedOn, { datasetId: data.body.id, split: 'held-out', samples: data.body.split.heldOut });
  // PyTorch's LeNet5 scores ~99% on MNIST; ~60 held-out images of the upload say the same within a few points.
  assert.ok(result.accuracyBefore > 0.9, `before ${result.accuracyBefore}`);
  assert.ok(result.testAccuracy > 0.85, `after ${result.testAccuracy}`);
  assertProblem(await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ datasetId: data.body.id, dataset: 'mnist' }), 400, 'WM_ERR_VALIDATION', 'watermarkModel');
});

test('when a network imported from ONNX with its .pt is watermarked and released, then the release downloads as the licensor\'s graph and names the licensee', { timeout: 120_000 }, async () => {
  // resblock: a PyTorch network outside the registry (conv + BN, residual block, pools), exported in training mode.
  const up = await s.http.post('/v1/models').set(as('issuer')).field('name', 'resblock')
    .attach('file', file('import/resblock.pt'), 'resblock.pt').attach('file', file('import/resblock_train.onnx'), 'resblock.onnx');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.match(up.body.arch, /^onnx-[0-9a-f]{12}$/);
  const data = await s.http.post('/v1/datasets').set(as('issuer')).attach('file', Buffer.from(mnistNpz(400)), 'mnist400.npz');
  const wm = await s.http.post(`/v1/models/${up.body.id}/watermark`).set(as('issuer')).send({ datasetId: data.body.id, epochs: 1, seed: 2 });
  assert.equal(wm.status, 202, JSON.stringify(wm.body));
  const job = await jobOutcome(s, wm.body.id, 90_000);
  assert.equal(job.status, 'succeeded', String(job.error));
  const { modelId } = job.result as { modelId: string };
  const marked = (await s.http.get(`/v1/models/${modelId}`).set(as('issuer'))).body;
  assert.equal(marked.arch, up.body.arch);
  assert.ok(marked.meta.imported, 'the watermarked copy keeps the licensor\'s graph and origin map');
  const rel = await s.http.post(`/v1/models/${modelId}/releases`).set(as('issuer')).send({ licensee: 'hooli', epochs: 1, limit: 200 });
  assert.equal(rel.status, 202, JSON.stringify(rel.body));
  assert.equal((await jobOutcome(s, rel.body.job.id, 90_000)).status, 'succeeded');
  for (const format of ['onnx', 'safetensors', 'pt']) {
    const dl = await s.http.get(`/v1/releases/${rel.body.release.id}/download`).set(as('issuer')).query({ format }).buffer(true).parse(binaryBody);
    assert.equal(dl.status, 200, `${format}: ${dl.status}`);
    const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, `leak.${format}`);
    assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 400));
    assert.equal(v.body.leakedBy, 'hooli', `${format}: ${v.body.decision}`);
  }
});

test('when the same pretrained model is watermarked twice, then a leak of the second copy\'s release still names its licensee (the two share an anchor)', { timeout: 150_000 }, async () => {
  // Both watermarked copies align onto the same anchor (the upload's weights), so their keys share a
  // reference group; the licensee key's provenance must be checked against its own base model's key.
  const marked: string[] = [];
  for (const name of ['twice-1', 'twice-2']) {
    const id = await upload(name, 'lenet5');
    const wm = await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ epochs: 1, limit: 500, seed: 4 });
    const job = await jobOutcome(s, wm.body.id, 90_000);
    assert.equal(job.status, 'succeeded', String(job.error));
    marked.push((job.result as { modelId: string }).modelId);
  }
  const rel = await s.http.post(`/v1/models/${marked[1]}/releases`).set(as('issuer')).send({ licensee: 'pied-piper', epochs: 1, limit: 300 });
  assert.equal((await jobOutcome(s, rel.body.job.id, 90_000)).status, 'succeeded');
  const dl = await s.http.get(`/v1/releases/${rel.body.release.id}/download`).set(as('issuer')).query({ format: 'safetensors' }).buffer(true).parse(binaryBody);
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', dl.body as Buffer, 'leak.safetensors');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 400));
  assert.equal(v.body.leakedBy, 'pied-piper');
  const full = await s.http.get(`/v1/verifications/${v.body.id}`).set(as('auditor'));
  assert.equal(full.body.verdict.modelId, marked[1], 'the verdict names the copy the release was made from');
});

test('when the original unwatermarked upload is verified, then the post-hoc key does not claim it', { timeout: 60_000 }, async () => {
  // The key's positions and values were drawn for the fine-tuned copy: the model as PyTorch left it holds no mark.
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', file('pt/lenet5.pt'), 'original.pt');
  assert.equal(v.status, 201, JSON.stringify(v.body).slice(0, 400));
  const full = await s.http.get(`/v1/verifications/${v.body.id}`).set(as('auditor'));
  const owners = (full.body.report.candidates as { kind: string; decision: string }[]).filter((c) => c.kind === 'owner');
  assert.ok(owners.length > 0, 'the post-hoc key was tried');
  assert.deepEqual(owners.map((c) => c.decision), owners.map(() => 'no match'));
  assert.equal(v.body.decision, 'no match');
});

test('when a model without a known architecture is to be watermarked, then 400 says how to name it', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).attach('file', file('pt/lenet5_f16.pt'), 'half.pt');
  const wm = await s.http.post(`/v1/models/${res.body.id}/watermark`).set(as('issuer')).send({ epochs: 1 });
  assertProblem(wm, 400, 'WM_ERR_ARCH_UNKNOWN', 'watermarkModel');
  assert.match(wm.body.detail, /arch=NAME/);
});

test('when the watermark request is wrong, then it is refused before any job', async () => {
  const id = await upload('torch lenet5 again', 'lenet5');
  assertProblem(await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ strategy: 'none' }), 400, 'WM_ERR_VALIDATION', 'watermarkModel');
  assertProblem(await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ dataset: 'cifar10' }), 422, 'WM_ERR_DATASET_MISMATCH', 'watermarkModel');
  const tooBig = await s.http.post(`/v1/models/${id}/watermark`).set(as('issuer')).send({ keyN: 100_000 });
  assertProblem(tooBig, 400, 'WM_ERR_VALIDATION', 'watermarkModel');
  assert.match(tooBig.body.detail, /does not fit lenet5: at most 86/);
  assertProblem(await s.http.post('/v1/models/mdl_doesnotexist/watermark').set(as('issuer')).send({}), 404, 'WM_ERR_MODEL_NOT_FOUND', 'watermarkModel');
  assertProblem(await s.http.post(`/v1/models/${id}/watermark`).set(as('verifier')).send({}), 403, 'WM_ERR_FORBIDDEN', 'watermarkModel');
});
