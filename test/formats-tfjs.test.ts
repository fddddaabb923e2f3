import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { readTfjs, writeTfjs } from '../src/formats/tfjs.js';
import { loadTfjsModel, saveTfjsModel } from '../src/formats/tfjsFiles.js';
import { float32ToHalf } from '../src/formats/float16.js';
import { getArchitecture, paramSpecs, type Architecture } from '../src/core/architectures.js';
import type { ModelFile } from '../src/formats/types.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { assertCode } from './format-helpers.js';

await tf.setBackend('cpu');

const tiny: Architecture = {
  name: 'tiny', description: 'test net', inputShape: [6, 6, 2], classes: 4,
  layers: [
    { type: 'conv2d', name: 'conv1', filters: 3, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 5, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 4, activation: 'none' },
  ],
};

function seededSet(arch: Architecture, seed: number): ParamSet {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  return { tensors: paramSpecs(arch).map((p) => ({ name: p.name, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, next) })) };
}

/** The forward pass written out plainly: NHWC, HWIO kernels, valid conv, 2x2 pool, HWC flatten. */
function plainForward(set: ParamSet, x: Float32Array): Float32Array {
  const get = (n: string) => set.tensors.find((t) => t.name === n)!.data;
  const [W, C] = [6, 2];
  const k = get('conv1/kernel'), kb = get('conv1/bias');
  const conv = new Float32Array(4 * 4 * 3);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let o = 0; o < 3; o++) {
    let acc = kb[o]!;
    for (let di = 0; di < 3; di++) for (let dj = 0; dj < 3; dj++) for (let c = 0; c < C; c++) acc += x[((i + di) * W + (j + dj)) * C + c]! * k[((di * 3 + dj) * C + c) * 3 + o]!;
    conv[(i * 4 + j) * 3 + o] = Math.max(0, acc);
  }
  const pool = new Float32Array(2 * 2 * 3);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let o = 0; o < 3; o++) {
    pool[(i * 2 + j) * 3 + o] = Math.max(conv[((2 * i) * 4 + 2 * j) * 3 + o]!, conv[((2 * i) * 4 + 2 * j + 1) * 3 + o]!, conv[((2 * i + 1) * 4 + 2 * j) * 3 + o]!, conv[((2 * i + 1) * 4 + 2 * j + 1) * 3 + o]!);
  }
  const dense = (inp: Float32Array, kn: Float32Array, b: Float32Array, units: number, relu: boolean) => {
    const out = new Float32Array(units);
    for (let u = 0; u < units; u++) {
      let acc = b[u]!;
      for (let i = 0; i < inp.length; i++) acc += inp[i]! * kn[i * units + u]!;
      out[u] = relu ? Math.max(0, acc) : acc;
    }
    return out;
  };
  return dense(dense(pool, get('fc1/kernel'), get('fc1/bias'), 5, true), get('fc2/kernel'), get('fc2/bias'), 4, false);
}

function manifestFiles(weights: object[], shards: Uint8Array[], paths?: string[]): ModelFile[] {
  const names = paths ?? shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
  const json = { format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: names, weights }] };
  return [{ name: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(json)) }, ...shards.map((bytes, i) => ({ name: names[i] ?? `x${i}`, bytes }))];
}

test('when a param set is written as tfjs, then tf.loadLayersModel loads it over HTTP and predicts as a plain computation', async () => {
  const set = seededSet(tiny, 3);
  const files = writeTfjs(set, tiny, { shardBytes: 100 }); // several shards, weights spanning them
  assert.ok(files.length > 3);
  const server = createServer((req, res) => {
    const f = files.find((x) => `/${x.name}` === req.url);
    if (!f) { res.statusCode = 404; res.end(); return; }
    res.setHeader('content-type', f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    res.end(Buffer.from(f.bytes));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const model = await tf.loadLayersModel(`http://127.0.0.1:${port}/model.json`);
    const xs = [0, 1].map((b) => Float32Array.from({ length: 72 }, (_, i) => Math.sin(i * 0.7 + b)));
    const input = tf.tensor4d([...xs[0]!, ...xs[1]!], [2, 6, 6, 2]);
    const got = (model.predict(input) as tf.Tensor).dataSync();
    xs.forEach((x, b) => {
      const want = plainForward(set, x);
      for (let u = 0; u < 4; u++) assert.ok(Math.abs(got[b * 4 + u]! - want[u]!) < 1e-5, `sample ${b} unit ${u}: ${got[b * 4 + u]} vs ${want[u]}`);
    });
    model.dispose();
    input.dispose();
  } finally {
    server.close();
  }
});

test('when tfjs files are read back, then every tensor equals the written one, across shard boundaries', () => {
  const set = seededSet(tiny, 5);
  const back = readTfjs(writeTfjs(set, tiny, { shardBytes: 100 }));
  assert.deepEqual(back.tensors, set.tensors);
});

test('when weights are quantized uint8, uint16 or float16, then they dequantize as tf.io.decodeWeights does', () => {
  const u8 = new Uint8Array([0, 1, 128, 255]);
  const u16 = new Uint16Array([0, 1000, 65535]);
  const f16 = float32ToHalf(new Float32Array([0.5, -2, 1e-3]));
  const specs = [
    { name: 'a', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.01, min: -1.2 } },
    { name: 'b', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 1e-4, min: 0.5 } },
    { name: 'c', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
  ];
  const buf = new Uint8Array(4 + 6 + 6);
  buf.set(u8, 0); buf.set(new Uint8Array(u16.buffer), 4); buf.set(new Uint8Array(f16.buffer), 10);
  const ours = readTfjs(manifestFiles(specs, [buf]));
  const theirs = tf.io.decodeWeights(buf.slice().buffer, specs as tf.io.WeightsManifestEntry[]);
  for (const t of ours.tensors) {
    const ref = theirs[t.name]!.dataSync();
    assert.deepEqual([...t.data].map((v) => Math.fround(v)), [...ref], t.name);
  }
});

test('when a quantization dtype is unknown, then the error names it and the supported ones', () => {
  const specs = [{ name: 'a', shape: [1], dtype: 'float32', quantization: { dtype: 'int4', scale: 1, min: 0 } }];
  assertCode(() => readTfjs(manifestFiles(specs, [new Uint8Array(1)])), 'WM_ERR_FORMAT_UNSUPPORTED_DTYPE', /'int4'\. Supported dtypes are 'uint8', 'uint16', 'float16'/);
});

for (const bad of ['../secret.bin', 'a/../../b.bin', '/etc/passwd', 'C:\\w.bin', 'c:w.bin', 'http://evil.example/w.bin', 'file:///etc/passwd', '..\\w.bin', '%2e%2e/w.bin', 'a//b.bin', '']) {
  test(`when a shard path is ${JSON.stringify(bad)}, then it is refused with WM_ERR_FORMAT_PATH`, () => {
    const specs = [{ name: 'a', shape: [1], dtype: 'float32' }];
    assertCode(() => readTfjs(manifestFiles(specs, [new Uint8Array(4)], [bad])), 'WM_ERR_FORMAT_PATH', /paths must be relative names inside the model's folder/);
  });
}

test('when a shard named in the manifest is missing, then it is refused naming the file', () => {
  const files = manifestFiles([{ name: 'a', shape: [2], dtype: 'float32' }], [new Uint8Array(8)]);
  assertCode(() => readTfjs(files.slice(0, 1)), 'WM_ERR_FORMAT_MISSING_FILE', /'group1-shard1of1.bin'/);
});

test('when shards are shorter or longer than the weights, then the file is refused', () => {
  const specs = [{ name: 'a', shape: [2], dtype: 'float32' }];
  assertCode(() => readTfjs(manifestFiles(specs, [new Uint8Array(7)])), 'WM_ERR_FORMAT_TRUNCATED');
  assertCode(() => readTfjs(manifestFiles(specs, [new Uint8Array(9)])), 'WM_ERR_FORMAT_MALFORMED', /holds 9 bytes/);
});

test('when the CLI saves and loads a model folder, then tensors and arch come back and spanning weights are not copied', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-tfjs-'));
  try {
    const arch = getArchitecture('mlp');
    const set = { arch: 'mlp', tensors: seededSet(arch, 9).tensors };
    const written = saveTfjsModel(dir, set, arch, { shardBytes: 200_000 });
    assert.ok(written.length >= 6);
    const back = loadTfjsModel(dir);
    assert.equal(back.arch, 'mlp');
    assert.deepEqual(back.tensors, set.tensors);
    const buffers = new Set(back.tensors.map((t) => t.data.buffer));
    assert.equal(buffers.size, 1, 'all weights are views on one group buffer');
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }));
    assertCode(() => loadTfjsModel(dir), 'WM_ERR_FORMAT_PATH');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
