import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';
import { GraphBuilder } from '../src/formats/onnx/graph.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { fromOriginal, originalTensors } from '../src/formats/onnx/origin.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { createGradientEngine } from '../src/training/engine.js';
import { assertCode } from './format-helpers.js';
import { FormatError } from '../src/formats/errors.js';
import { paramSpecs, registerArchitecture } from '../src/core/architectures.js';
import { generateKey, keyTargetsFromParamSet } from '../src/core/keygen.js';
import { embedValues, extractValues } from '../src/core/extract.js';
import { getAttack } from '../src/attacks/index.js';
import { alignToKey } from '../src/core/align/index.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { importFixture } from './import-helpers.js';

const reference = (net: string) => JSON.parse(new TextDecoder().decode(importFixture(`${net}_reference.json`))) as { input: number[]; logits: number[] };
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

for (const file of ['resblock_train', 'resblock_folded', 'flathead_train', 'flathead_folded', 'avgpool_train', 'avgpool_folded', 'viewhead_train', 'viewhead_folded']) {
  const net = file.split('_')[0]!;
  test(`when PyTorch's ${file}.onnx is imported, then the standard export and both training engines give PyTorch's logits`, async () => {
    const { architecture, params } = importOnnxGraph(importFixture(`${file}.onnx`));
    const ref = reference(net);
    // One channel: the NCHW samples are NHWC bytes as they are.
    const x = Float32Array.from(ref.input);
    assert.ok(maxDiff(await predictLogits(params, architecture, x), ref.logits) < 1e-4);
    for (const backend of ['onnxruntime', 'wasm'] as const) {
      const engine = await createGradientEngine(architecture, { backend, threads: 1 });
      const logits = await engine.predict(params.tensors.map((t) => t.data), x, 4);
      await engine.dispose();
      assert.ok(maxDiff(logits, ref.logits) < 1e-4, `${backend}: ${maxDiff(logits, ref.logits)}`);
    }
  });
}

test('when the training-mode export is imported, then batch norms stay, every tensor keeps its state_dict name, and the origin map gives the initializers back bit for bit', () => {
  const bytes = importFixture('resblock_train.onnx');
  const { architecture, params, origin } = importOnnxGraph(bytes);
  assert.match(architecture.name, /^onnx-[0-9a-f]{12}$/);
  assert.equal(architecture.layers.filter((l) => l.type === 'batchNorm').length, 4);
  assert.deepEqual(architecture.inputShape, [28, 28, 1]);
  assert.equal(architecture.classes, 10);
  const stored = readOnnx(bytes, { asStored: true }).tensors;
  const back = originalTensors(params, origin);
  assert.deepEqual(back.map((t) => t.name).sort(), stored.map((t) => t.name).sort());
  for (const t of back) assert.deepEqual(bits(t.data), bits(stored.find((s) => s.name === t.name)!.data), t.name);
  const again = fromOriginal(stored, origin)!;
  params.tensors.forEach((t, i) => assert.deepEqual(bits(again.tensors[i]!.data), bits(t.data), t.name));
});

test('when the same graph is imported twice, then it gets the same content-addressed name; a folded export is another architecture', () => {
  const a = importOnnxGraph(importFixture('resblock_train.onnx')).architecture;
  assert.equal(importOnnxGraph(importFixture('resblock_train.onnx')).architecture.name, a.name);
  const folded = importOnnxGraph(importFixture('resblock_folded.onnx')).architecture;
  assert.notEqual(folded.name, a.name);
  assert.equal(folded.layers.filter((l) => l.type === 'batchNorm').length, 0);
  assert.ok(folded.layers.every((l) => l.type !== 'conv2d' || l.useBias !== false), 'folded convolutions carry the norms as biases');
});

test('when a dense layer reads a flatten through a dropout, then its weight rows are reordered CHW → HWC and the dropout keeps its rate', () => {
  const { architecture, origin } = importOnnxGraph(importFixture('flathead_train.onnx'));
  assert.deepEqual(origin.tensors.find((o) => o.original === 'fc1.weight')!.flattenFrom, [5, 5, 12]);
  const dropout = architecture.layers.find((l) => l.type === 'dropout');
  assert.ok(dropout && Math.abs(dropout.rate - 0.3) < 1e-6);
});

// ---- refusals: graphs built with our own writer ---------------------------------------------------------

/** x [N, 2, 6, 6] → conv c1 (2→4, 3x3) → `body` → Gemm to 3 classes over whatever `body` returns (flattened). */
function graphWith(body: (g: GraphBuilder, y: string) => string, conv: Record<string, number | number[]> = {}): Uint8Array {
  const g = new GraphBuilder('t');
  const x = g.input('x', ['N', 2, 6, 6]);
  const w = g.initializer('c1.weight', [4, 2, 3, 3], new Float32Array(72).fill(0.1));
  const y = g.node('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], ...conv }, 'c1_out');
  const z = g.node('Flatten', [g.node('GlobalAveragePool', [body(g, y)])], { axis: 1 });
  const logits = g.node('Gemm', [z, g.initializer('fc.weight', [3, 4], new Float32Array(12)), g.initializer('fc.bias', [3], new Float32Array(3))], { transB: 1 }, 'logits');
  g.output(logits, ['N', 3]);
  return g.finish('test', '0');
}

test('when a graph holds an op or a setting our layers cannot express, then the import is refused naming the op type and the node', () => {
  assertCode(() => importOnnxGraph(graphWith((g, y) => g.node('Sigmoid', [y], {}, 'squash'))), 'WM_ERR_GRAPH_UNSUPPORTED', /'Sigmoid:squash' \(op Sigmoid\): op not supported; supported are Conv/);
  assertCode(() => importOnnxGraph(graphWith((g, y) => g.node('AveragePool', [y], { kernel_shape: [3, 3], strides: [1, 1] }, 'avg'))), 'WM_ERR_GRAPH_UNSUPPORTED', /'AveragePool:avg' \(op AveragePool\): only square pools with stride = kernel are supported; kernel 3x3, stride 1x1/);
  assertCode(() => importOnnxGraph(graphWith((g, y) => g.node('Pad', [y, g.int64Initializer('pads', [0, 0, 1, 1, 0, 0, 1, 1])], {}, 'pad'))), 'WM_ERR_GRAPH_UNSUPPORTED', /'Pad:pad' \(op Pad\): only a Pad of zero width/);
  assertCode(() => importOnnxGraph(graphWith((g, y) => g.node('Gather', [y, g.int64Initializer('at', [0, 1])], {}, 'pick'))), 'WM_ERR_GRAPH_UNSUPPORTED', /'Gather:pick' \(op Gather\): only a Gather of a Shape's dimensions/);
});

test('when a Conv is grouped or padded asymmetrically, then it is refused naming the node and the setting', () => {
  assertCode(() => importOnnxGraph(graphWith((_, y) => y, { group: 2 })), 'WM_ERR_GRAPH_UNSUPPORTED', /'Conv:c1_out' \(op Conv\): grouped convolution \(group 2\)/);
  assertCode(() => importOnnxGraph(graphWith((_, y) => y, { pads: [0, 0, 1, 1] })), 'WM_ERR_GRAPH_UNSUPPORTED', /'Conv:c1_out' \(op Conv\): only symmetric padding is supported; pads \[0, 0, 1, 1\]/);
});

test('when a ReLU reads a tensor that something else also reads unactivated, then it is refused: it cannot be fused', () => {
  const shared = graphWith((g, y) => g.node('Add', [g.node('Relu', [y], {}, 'r'), y], {}, 'sum'));
  assertCode(() => importOnnxGraph(shared), 'WM_ERR_GRAPH_UNSUPPORTED', /'Relu:r' \(op Relu\): a ReLU must be the only reader .*'c1_out' comes from conv2d conv1, which is also read without the ReLU/);
  // The same through another name of the conv's output.
  const aliased = graphWith((g, y) => g.node('Add', [g.node('Relu', [g.node('Identity', [y], {}, 'z')], {}, 'r'), y], {}, 'sum'));
  assertCode(() => importOnnxGraph(aliased), 'WM_ERR_GRAPH_UNSUPPORTED', /'Relu:r' \(op Relu\): .*'z' comes from conv2d conv1, which is also read without the ReLU/);
});

test('when a ReLU follows a max pool of a linear conv, then it moves before the pool (they commute) and the conv carries it', () => {
  const g = graphWith((b, y) => b.node('Relu', [b.node('MaxPool', [y], { kernel_shape: [2, 2], strides: [2, 2] })]));
  const { architecture } = importOnnxGraph(g);
  assert.deepEqual(architecture.layers.slice(0, 2).map((l) => [l.type, 'activation' in l ? l.activation : '-']), [['conv2d', 'relu'], ['maxPool', '-']]);
});

test('when 500 mutated copies of a graph are imported, then each gives a consistent network or a FormatError, quickly', () => {
  const original = importFixture('resblock_train.onnx');
  let seed = 20261203;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const outcomes = { imported: 0, refused: 0 };
  const started = Date.now();
  for (let i = 0; i < 500; i++) {
    const bytes = i % 5 === 0 ? original.slice(0, rnd(original.length)) : original.slice();
    for (let k = 0; k < 1 + rnd(4); k++) bytes[rnd(bytes.length)] = rnd(256);
    try {
      const { architecture, params, origin } = importOnnxGraph(bytes);
      const specs = paramSpecs(architecture);
      assert.deepEqual(params.tensors.map((t) => [t.name, t.shape.join('x'), t.data.length]), specs.map((s) => [s.name, s.shape.join('x'), s.shape.reduce((a, b) => a * b, 1)]));
      assert.equal(origin.tensors.length, specs.length);
      outcomes.imported++;
    } catch (e) {
      assert.ok(e instanceof FormatError, `case ${i}: ${String(e)}`);
      outcomes.refused++;
    }
  }
  assert.ok(outcomes.imported > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
  assert.ok(Date.now() - started < 30_000, `${Date.now() - started} ms`);
});

test('when a conv map is reshaped to [-1, C·H·W] before a MatMul + bias, then it is a flatten and a dense layer reading CHW rows; a fixed batch size is refused', () => {
  const build = (shape: number[]) => {
    const g = new GraphBuilder('t');
    const x = g.input('x', ['N', 2, 6, 6]);
    const y = g.node('Conv', [x, g.initializer('c.weight', [4, 2, 3, 3], new Float32Array(72))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    const z = g.node('Reshape', [y, g.int64Initializer('shape', shape)], {}, 'flat');
    const m = g.node('MatMul', [z, g.initializer('fc.weight', [144, 3], new Float32Array(432))]);
    g.output(g.node('Add', [m, g.initializer('fc.bias', [3], new Float32Array(3))], {}, 'logits'), ['N', 3]);
    return g.finish('test', '0');
  };
  const { architecture, origin } = importOnnxGraph(build([-1, 144]));
  assert.deepEqual(architecture.layers.map((l) => l.type), ['conv2d', 'flatten', 'dense']);
  assert.deepEqual(origin.tensors.find((o) => o.original === 'fc.weight'), { canonical: 'fc1/kernel', original: 'fc.weight', shape: [144, 3], layout: 'inOut', flattenFrom: [6, 6, 4] });
  assertCode(() => importOnnxGraph(build([8, 144])), 'WM_ERR_GRAPH_UNSUPPORTED', /'Reshape:flat' \(op Reshape\): only a reshape to \[N, -1\] with a constant shape is supported; shape \[8, 144\]/);
});

for (const net of ['resblock', 'flathead', 'avgpool']) {
  test(`when a marked imported ${net} has its neurons permuted, then alignment onto the reference undoes it and the key reads back exactly`, async () => {
    const { architecture, params } = importOnnxGraph(importFixture(`${net}_train.onnx`));
    registerArchitecture(architecture);
    const key = generateKey(keyTargetsFromParamSet(params), { seed: net, id: `key-${net}`, arch: architecture.name, n: 256 });
    const marked = embedValues(params, key);
    const { set } = await getAttack('permute').run(marked, architecture, 1, { seed: 5 });
    assert.ok(scoreAgainstKey(extractValues(set, key), key).r < 0.9, 'the permutation moved the marked values');
    const aligned = alignToKey(set, key, { reference: marked, arch: architecture, invariant: true });
    assert.deepEqual(Array.from(extractValues(aligned.params, key)), Array.from(key.values));
  });
}

test('when PyTorch exported x.view(x.size(0), -1) (Shape, Gather, Unsqueeze, Concat, Reshape), then it is a flatten, and the Shape node does not count as a reader of the ReLU', () => {
  const { architecture } = importOnnxGraph(importFixture('viewhead_train.onnx'));
  assert.deepEqual(architecture.layers.map((l) => [l.type, 'activation' in l ? l.activation : '-']), [['conv2d', 'relu'], ['flatten', '-'], ['dense', 'none']]);
});
