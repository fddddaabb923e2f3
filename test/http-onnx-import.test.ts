import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startTestServer, assertContract, assertProblem, StandInExecutor, type TestServer } from './http-helpers.js';
import { importFixture } from './import-helpers.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { registerArchitecture } from '../src/core/architectures.js';
import { embedValues } from '../src/core/extract.js';
import { readImportedModel } from '../src/formats/onnx/importModel.js';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';
import { writeOriginal } from '../src/formats/onnx/writeOriginal.js';
import { decodeGraph } from '../src/formats/onnx/graphDecode.js';
import { DEFAULT_ONNX_READ_LIMITS } from '../src/formats/onnx/read.js';
import { readModel } from '../src/formats/index.js';
import { GraphBuilder } from '../src/formats/onnx/graph.js';
import { loadParams } from '../src/service/models.js';
import type { ParamSet } from '../src/core/paramSet.js';

// The licensor's own network (scripts/make_import_fixtures.py: residual block with batch norms), its
// owner key written into the state_dict it uploads beside its training-mode graph.
const graph = importFixture('resblock_train.onnx');
const imported = readImportedModel([{ name: 'resblock_train.onnx', bytes: graph }, { name: 'resblock.pt', bytes: importFixture('resblock.pt') }])!;
// Registered as the service registers it when it loads the model: keys then go into conv and dense tensors only.
registerArchitecture(imported.architecture);
const key = generateKey(keyTargetsFromParamSet(imported.params), { seed: 'import-owner', id: 'key-import-owner', arch: imported.architecture.name, n: 256 });
const marked: ParamSet = embedValues(imported.params, key);
const markedPt = Buffer.from(writeOriginal('pt', marked, imported.origin, graph)[0]!.bytes);

const executor = new StandInExecutor(2, 5);
let s: TestServer;
let modelId = '';
let releaseId = '';
before(async () => {
  s = await startTestServer({ executor });
});
after(async () => {
  await s.stop();
});
const as = (role: 'issuer' | 'verifier' | 'auditor') => ({ Authorization: `Bearer ${s.tokens[role]}` });

test('when a licensor uploads its training-mode ONNX graph with its .pt state_dict and key, then the model is registered as an imported architecture', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).field('name', 'licensor resnet')
    .attach('file', Buffer.from(graph), 'resblock_train.onnx').attach('file', markedPt, 'resblock.pt').attach('key', Buffer.from(JSON.stringify(key)), 'key.json');
  assert.equal(res.status, 201, JSON.stringify(res.body).slice(0, 500));
  assertContract(res, 'registerModel');
  assert.equal(res.body.arch, imported.architecture.name);
  assert.equal(res.body.format, 'pt');
  assert.equal(res.body.meta.imported.architecture.name, imported.architecture.name);
  assert.equal(res.body.meta.imported.origin.tensors[0].original, 'conv1.weight');
  assert.ok(key.tensors.every((t) => /\/(kernel|bias)$/.test(t.name)), 'no key position in a batch norm');
  modelId = res.body.id;
});

test('when models are listed, then the imported one names its network and links to its record; the graph and origin map stay there', async () => {
  const list = await s.http.get('/v1/models').set(as('issuer'));
  assert.equal(list.status, 200);
  assertContract(list, 'listModels');
  const entry = list.body.items.find((m: { id: string }) => m.id === modelId);
  assert.deepEqual(entry.meta.imported, { architecture: { name: imported.architecture.name, description: imported.architecture.description }, weights: 'pt', detail: `/v1/models/${modelId}` });
  const one = await s.http.get(`/v1/models/${modelId}`).set(as('issuer'));
  assert.equal(one.body.meta.imported.origin.tensors[0].original, 'conv1.weight');
  assert.ok(JSON.stringify(one.body).length > 4 * JSON.stringify(entry).length, 'the record carries what the list leaves out');
});

test('when a model is uploaded naming an imported architecture as its arch, then 400: an imported architecture comes with its graph', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).field('arch', imported.architecture.name).attach('file', markedPt, 'resblock.pt');
  assertProblem(res, 400, 'WM_ERR_ARCH_UNKNOWN', 'registerModel');
});

test('when the imported model is read again from its stored files, then it is the uploaded weights in canonical layout', async () => {
  const { ctx } = s.server.service;
  ctx.cache.params.clear();
  const params = await loadParams(ctx, (await ctx.store.getModel(modelId))!);
  assert.deepEqual(params.tensors.map((t) => t.name), marked.tensors.map((t) => t.name));
  params.tensors.forEach((t, i) => assert.deepEqual(t.data, marked.tensors[i]!.data, t.name));
});

for (const [format, bytes] of [
  ['pt', () => markedPt],
  ['safetensors', () => Buffer.from(writeOriginal('safetensors', marked, imported.origin, graph)[0]!.bytes)],
  ['onnx', () => Buffer.from(writeOriginal('onnx', marked, imported.origin, graph)[0]!.bytes)],
] as const) {
  test(`when a copy in the licensor's own names is verified as ${format}, then the origin map reads it and it matches`, async () => {
    const res = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', bytes(), `copy.${format}`);
    assert.equal(res.status, 201, JSON.stringify(res.body).slice(0, 500));
    assert.equal(res.body.decision, 'match');
    const full = (await s.http.get(`/v1/verifications/${res.body.id}`).set(as('auditor'))).body as { report: { references: { mapping: { keyTensor: string; suspectTensor: string; method: string; transform: string }[] }[] } };
    // Read through the origin map, every tensor a key can mark (not batch norm's) is found under its
    // canonical name as it is: nothing left to guess by content.
    const mapping = full.report.references[0]!.mapping;
    assert.deepEqual(mapping.map((m) => m.keyTensor), key.tensors.map((t) => t.name));
    assert.ok(mapping.every((m) => m.suspectTensor === m.keyTensor && m.method === 'name' && m.transform === 'identity'), JSON.stringify(mapping.slice(0, 3)));
  });
}

async function download(format: string) {
  return s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer')).query({ format }).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  });
}

test('when an imported model is released, then the release job is handed the architecture itself and the release becomes ready', async () => {
  const res = await s.http.post(`/v1/models/${modelId}/releases`).set(as('issuer')).send({ licensee: 'licensee-a', epochs: 1 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  releaseId = res.body.release.id;
  for (let i = 0; i < 200 && (await s.http.get(`/v1/releases/${releaseId}`).set(as('auditor'))).body.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal((await s.http.get(`/v1/releases/${releaseId}`).set(as('auditor'))).body.status, 'ready');
  const task = executor.tasks.find((t) => t.kind === 'release');
  assert.deepEqual(task?.kind === 'release' && task.architecture, imported.architecture);
});

test('when the release is downloaded as onnx, then it is the licensor\'s graph (nodes, training mode) with the release\'s weights, covered by the manifest, and it verifies naming the licensee', async () => {
  const res = await download('onnx');
  assert.equal(res.status, 200);
  const bytes = res.body as Buffer;
  const manifest = JSON.parse(Buffer.from(String(res.headers['weightmark-manifest']).split('.')[1]!, 'base64url').toString());
  assert.equal(manifest.layout, 'original');
  assert.equal(manifest.files[0].sha256, crypto.createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(decodeGraph(bytes, DEFAULT_ONNX_READ_LIMITS).nodes, decodeGraph(graph, DEFAULT_ONNX_READ_LIMITS).nodes);
  assert.equal(importOnnxGraph(bytes).architecture.name, imported.architecture.name);
  const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', bytes, 'leak.onnx');
  assert.equal(v.status, 201);
  assert.equal(v.body.decision, 'match');
  assert.equal(v.body.leakedBy, 'licensee-a');
});

for (const format of ['pt', 'safetensors']) {
  test(`when the release is downloaded as ${format}, then it holds the state_dict's names (counters included) and verifies naming the licensee`, async () => {
    const res = await download(format);
    assert.equal(res.status, 200);
    const read = readModel([{ name: `leak.${format}`, bytes: new Uint8Array(res.body as Buffer) }]);
    const want = readModel([{ name: 'resblock.pt', bytes: importFixture('resblock.pt') }]).params.tensors.map((t) => t.name).sort();
    assert.deepEqual(read.params.tensors.map((t) => t.name).sort(), want);
    const v = await s.http.post('/v1/verifications').set(as('verifier')).attach('file', res.body as Buffer, `leak.${format}`);
    assert.equal(v.body.decision, 'match');
    assert.equal(v.body.leakedBy, 'licensee-a');
  });
}

test('when an imported release is asked for in a format the licensor did not use, then 400 WM_ERR_DOWNLOAD_FORMAT', async () => {
  assertProblem(await s.http.get(`/v1/releases/${releaseId}/download`).set(as('issuer')).query({ format: 'tfjs' }), 400, 'WM_ERR_DOWNLOAD_FORMAT', 'downloadRelease');
});

test('when a state_dict comes with a graph exported in eval mode (norms folded), then 422 says to export in training mode', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer'))
    .attach('file', Buffer.from(importFixture('resblock_folded.onnx')), 'folded.onnx').attach('file', markedPt, 'resblock.pt');
  assertProblem(res, 422, 'WM_ERR_FORMAT_UNSUPPORTED', 'registerModel');
  assert.match(res.body.detail, /TrainingMode\.TRAINING/);
});

/** x [N, 1, 4, 4] → Conv → Sigmoid → GlobalAveragePool → Flatten → Gemm: one op the engines cannot train. */
function sigmoidGraph(): Buffer {
  const g = new GraphBuilder('t');
  const x = g.input('x', ['N', 1, 4, 4]);
  const y = g.node('Sigmoid', [g.node('Conv', [x, g.initializer('c.weight', [2, 1, 3, 3], new Float32Array(18))], { kernel_shape: [3, 3] })], {}, 'gate');
  const z = g.node('Flatten', [g.node('GlobalAveragePool', [y])], { axis: 1 });
  g.output(g.node('Gemm', [z, g.initializer('fc.weight', [3, 2], new Float32Array(6)), g.initializer('fc.bias', [3], new Float32Array(3))], { transB: 1 }, 'logits'), ['N', 3]);
  return Buffer.from(g.finish('test', '0'));
}

test('when a state_dict comes with a graph holding an op the engines cannot train, then 422 WM_ERR_GRAPH_UNSUPPORTED names the op and the node', async () => {
  const sd = Buffer.from(writeOriginal('safetensors', { tensors: [] }, { tensors: [] }, new Uint8Array())[0]!.bytes);
  const res = await s.http.post('/v1/models').set(as('issuer')).attach('file', sigmoidGraph(), 'gated.onnx').attach('file', sd, 'gated.safetensors');
  assertProblem(res, 422, 'WM_ERR_GRAPH_UNSUPPORTED', 'registerModel');
  assert.match(res.body.detail, /ONNX node 'Sigmoid:gate' \(op Sigmoid\)/);
});

test('when such a graph is uploaded alone, then it is registered for verification as its tensors, with no architecture', async () => {
  const res = await s.http.post('/v1/models').set(as('issuer')).attach('file', sigmoidGraph(), 'gated.onnx');
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.arch, null);
  assert.equal(res.body.meta.imported, undefined);
});
