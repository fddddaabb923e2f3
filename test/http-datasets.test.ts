import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, assertContract, assertProblem, StandInExecutor, type TestServer } from './http-helpers.js';
import { imageFolderZip, mnistNpz, npzOf, u8npy, i64npy, labels, noiseImage } from './dataset-helpers.js';
import { writeZipStored } from '../src/formats/zip.js';
import { pngOf } from './dataset-helpers.js';
import { uploadedTrainingData } from '../src/service/datasets.js';
import { trainingSplits } from '../src/data/uploadedDataset.js';

let s: TestServer;
const executor = new StandInExecutor(2, 10);
before(async () => {
  s = await startTestServer({ executor });
});
after(async () => {
  await s.stop();
});
const as = (role: 'admin' | 'auditor' | 'issuer' | 'verifier') => ({ Authorization: `Bearer ${s.tokens[role]}` });
const upload = (bytes: Uint8Array, name: string, role: 'admin' | 'issuer' | 'auditor' | 'verifier' = 'issuer') =>
  s.http.post('/v1/datasets').set(as(role)).attach('file', Buffer.from(bytes), name);

async function waitFor(id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const j = await s.http.get(`/v1/jobs/${id}`).set(as('issuer'));
    if (['succeeded', 'failed', 'cancelled'].includes(j.body.status)) return j.body;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`job ${id} did not finish`);
}

const petsZip = imageFolderZip({ classes: ['cat', 'dog'], perClass: 10, h: 8, w: 8 });
let petsId = '';
let mnistId = '';

test('when an issuer uploads an image-folder zip, then 201 with the record; the same content again is 200 with the same id; it is listed, readable and audited', async () => {
  const res = await upload(petsZip, 'pets.zip').field('name', 'pets').field('holdout', '0.2');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertContract(res, 'registerDataset');
  assert.match(res.body.id, /^ds_/);
  assert.equal(res.headers.location, `/v1/datasets/${res.body.id}`);
  assert.deepEqual([res.body.name, res.body.format, res.body.created, res.body.samples], ['pets', 'image-zip', true, 20]);
  assert.deepEqual(res.body.shape, [8, 8, 1]);
  assert.deepEqual(res.body.classes, ['cat', 'dog']);
  assert.deepEqual([res.body.split.train, res.body.split.heldOut, res.body.split.holdout], [16, 4, 0.2]);
  petsId = res.body.id;

  const again = await upload(petsZip, 'other-name.zip', 'admin');
  assert.equal(again.status, 200);
  assertContract(again, 'registerDataset');
  assert.equal(again.body.id, petsId);
  assert.equal(again.body.created, false);
  assert.equal(again.body.name, 'pets', "the first upload's record stands");

  const list = await s.http.get('/v1/datasets?limit=10').set(as('auditor'));
  assert.equal(list.status, 200);
  assertContract(list, 'listDatasets');
  assert.deepEqual(list.body.items.map((d: { id: string }) => d.id), [petsId]);
  assert.equal(list.body.total, 1);
  const one = await s.http.get(`/v1/datasets/${petsId}`).set(as('issuer'));
  assertContract(one, 'getDataset');
  assert.equal(one.body.digest, res.body.digest);
  assertProblem(await s.http.get('/v1/datasets/ds_doesnotexist1').set(as('issuer')), 404, 'WM_ERR_DATASET_NOT_FOUND', 'getDataset');

  const events = (await s.http.get('/v1/audit/events?action=dataset.register').set(as('auditor'))).body.items;
  assert.equal(events.length, 1, 'one event: the second upload changed nothing');
  assert.equal(events[0].target, petsId);
  assert.equal(events[0].details.digest, res.body.digest);
});

test('when a role other than admin or issuer uploads, or a verifier lists, then 403', async () => {
  assertProblem(await upload(petsZip, 'pets.zip', 'auditor'), 403, 'WM_ERR_FORBIDDEN', 'registerDataset');
  assertProblem(await upload(petsZip, 'pets.zip', 'verifier'), 403, 'WM_ERR_FORBIDDEN', 'registerDataset');
  assertProblem(await s.http.get('/v1/datasets').set(as('verifier')), 403, 'WM_ERR_FORBIDDEN', 'listDatasets');
  assertProblem(await s.http.get(`/v1/datasets/${petsId}`).set(as('verifier')), 403, 'WM_ERR_FORBIDDEN', 'getDataset');
});

test('when an upload is malformed, then a 4xx problem+json names what is wrong', async () => {
  const png = pngOf(8, 8, 1, noiseImage(8, 8, 1, 1));
  const traversal = writeZipStored([...[0, 1, 2, 3, 4].map((i) => ({ name: `a/${i}.png`, data: png })), { name: 'a/../../x.png', data: png }]);
  const p = await upload(traversal, 'evil.zip');
  assertProblem(p, 422, 'WM_ERR_DATASET_PATH', 'registerDataset');
  assert.match(p.body.detail, /a\/\.\.\/\.\.\/x\.png/);
  assert.equal(p.body.type, '/problems/dataset-path');
  const labelsBad = npzOf({ x: u8npy([10, 4, 4], new Uint8Array(160)), y: i64npy([10], [0, 1, 0, 1, 0, 1, 0, 1, 0, -3]) });
  assertProblem(await upload(labelsBad, 'bad.npz'), 422, 'WM_ERR_DATASET_LABELS', 'registerDataset');
  const thin = imageFolderZip({ classes: ['a', 'b'], perClass: 3 });
  assertProblem(await upload(thin, 'thin.zip'), 422, 'WM_ERR_DATASET_CLASSES', 'registerDataset');
  assertProblem(await upload(new TextEncoder().encode('not a dataset'), 'notes.txt'), 415, 'WM_ERR_DATASET_UNKNOWN_FORMAT', 'registerDataset');
  assertProblem(await upload(petsZip, 'pets.zip').field('holdout', '0.9'), 400, 'WM_ERR_VALIDATION', 'registerDataset');
  assertProblem(await s.http.post('/v1/datasets').set(as('issuer')).field('name', 'nothing'), 400, 'WM_ERR_UPLOAD_MISSING_FILE', 'registerDataset');
  const three = s.http.post('/v1/datasets').set(as('issuer'));
  for (const n of ['a', 'b', 'c']) three.attach('file', Buffer.from(petsZip), `${n}.zip`);
  assertProblem(await three, 413, 'WM_ERR_UPLOAD_TOO_MANY_FILES', 'registerDataset');
  const page = await s.http.get('/v1/datasets').set(as('auditor'));
  assert.equal(page.body.total, 1, 'nothing refused was stored');
  const type = await s.http.get('/problems/dataset-labels');
  assert.deepEqual([type.status, type.body.code, type.body.status], [200, 'WM_ERR_DATASET_LABELS', 422]);
});

test('when a file exceeds the upload limit, then 413 WM_ERR_UPLOAD_TOO_LARGE', async () => {
  const small = await startTestServer({ executor, config: { uploadMaxFileBytes: 4096 } });
  try {
    const res = await small.http.post('/v1/datasets').set('Authorization', `Bearer ${small.tokens.issuer}`).attach('file', Buffer.from(petsZip), 'pets.zip');
    assert.ok(petsZip.length > 4096);
    assertProblem(res, 413, 'WM_ERR_UPLOAD_TOO_LARGE', 'registerDataset');
  } finally {
    await small.stop();
  }
});

test('when training names an uploaded dataset, then its shape and class count are checked, and the job carries its images and reports held-out accuracy', async () => {
  const both = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, dataset: 'mnist', datasetId: petsId });
  assertProblem(both, 400, 'WM_ERR_VALIDATION', 'trainModel');
  assert.match(both.body.detail, /either dataset .* or datasetId/);
  const wrong = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, datasetId: petsId });
  assertProblem(wrong, 422, 'WM_ERR_DATASET_MISMATCH', 'trainModel');
  assert.match(wrong.body.detail, /lenet5 takes 28x28x1 inputs; dataset ds_\S+ \('pets'\) has 8x8x1 images/);
  assertProblem(await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, datasetId: 'ds_doesnotexist1' }), 404, 'WM_ERR_DATASET_NOT_FOUND', 'trainModel');
  const elevenClasses = npzOf({ x: u8npy([55, 28, 28], new Uint8Array(55 * 784)), y: i64npy([55], labels(11, 5)) });
  const eleven = await upload(elevenClasses, 'eleven.npz');
  assert.equal(eleven.status, 201);
  const tooMany = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, datasetId: eleven.body.id });
  assertProblem(tooMany, 422, 'WM_ERR_DATASET_MISMATCH');
  assert.match(tooMany.body.detail, /lenet5 has 10 outputs; dataset .* has 11 classes/);

  const m = await upload(mnistNpz(200), 'mnist200.npz');
  assert.equal(m.status, 201);
  mnistId = m.body.id;
  const res = await s.http.post('/v1/models/train').set(as('issuer')).send({ arch: 'lenet5', epochs: 1, datasetId: mnistId, strategy: 'naive' });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.input.datasetId, mnistId);
  const job = await waitFor(res.body.id);
  assert.equal(job.status, 'succeeded', String(job.error));
  const task = executor.tasks.at(-1)!;
  assert.equal(task.kind, 'train');
  const uploaded = task.kind === 'train' ? task.uploaded : undefined;
  assert.equal(uploaded?.id, mnistId);
  assert.equal(uploaded?.set.n, 200);
  assert.deepEqual((job.result as { evaluatedOn: unknown }).evaluatedOn, { datasetId: mnistId, split: 'held-out', samples: m.body.split.heldOut });
  // What the worker does with the task's dataset (src/jobs/worker.ts): its own split, its own statistics.
  const u = await uploadedTrainingData(s.server.service.ctx, mnistId);
  const loaded = trainingSplits(u.set, u, u.id, { limit: 50 });
  assert.deepEqual([loaded.train.n, loaded.heldOut.n, ...loaded.train.shape], [50, m.body.split.heldOut, 28, 28, 1]);
  const model = await s.http.get(`/v1/models/${(job.result as { modelId: string }).modelId}`).set(as('issuer'));
  assert.equal(model.body.meta.datasetId, mnistId);

  // a release of that model fine-tunes on the same uploaded dataset, not on MNIST
  const rel = await s.http.post(`/v1/models/${model.body.id}/releases`).set(as('issuer')).send({ licensee: 'acme' });
  assert.equal(rel.status, 202, JSON.stringify(rel.body));
  assert.equal((await waitFor(rel.body.job.id)).status, 'succeeded');
  const releaseTask = executor.tasks.at(-1)!;
  assert.equal(releaseTask.kind, 'release');
  assert.equal(releaseTask.kind === 'release' ? releaseTask.uploaded?.id : undefined, mnistId);
});
