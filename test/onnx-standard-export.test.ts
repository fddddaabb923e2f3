import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { runExport, runExtract } from '../src/cli/localCommands.js';
import { alignToKey, flattenChwToHwc, transpose } from '../src/core/align/index.js';
import { getArchitecture, type Architecture } from '../src/core/architectures.js';
import { extractValues } from '../src/core/extract.js';
import { parseKey } from '../src/core/keygen.js';
import { tensorByName, type ParamSet } from '../src/core/paramSet.js';
import { scoreAgainstKey } from '../src/core/score.js';
import { loadDataset } from '../src/data/datasets.js';
import { nhwcToNchw, predictLogits } from '../src/eval/accuracy.js';
import { readModel, sniffFormat, writeModel } from '../src/formats/index.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { randomParamSet } from '../src/formats/onnx/samples.js';
import { AttributeProto, GraphProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto, TensorShapeDimension, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto } from '../src/formats/onnx/schema.js';
import { asBytes, asInt64, asString, fields, ProtoWriter, pushVarints, WIRE_LEN, WIRE_VARINT } from '../src/formats/onnx/wire.js';
import { writeOnnx } from '../src/formats/onnx/write.js';
import { captured } from './cli-helpers.js';

// ---- a small, independent reading of the graph (our reader keeps weights, not graph structure) ----

type Dim = number | string;
interface GraphView {
  inputs: { name: string; dims: Dim[] }[];
  outputs: { name: string; dims: Dim[] }[];
  initializers: { name: string; dims: number[] }[];
  nodes: { op: string; inputs: string[]; outputs: string[]; attrs: Map<string, number | number[]> }[];
  metadata: Map<string, string>;
}

function valueInfo(bytes: Uint8Array): { name: string; dims: Dim[] } {
  let name = '';
  const dims: Dim[] = [];
  for (const f of fields(bytes)) {
    if (f.no === ValueInfoProto.name) name = asString(f, 'name');
    if (f.no !== ValueInfoProto.type) continue;
    for (const t of fields(asBytes(f, 'type'))) {
      if (t.no !== TypeProto.tensorType) continue;
      for (const tt of fields(asBytes(t, 'tensor_type'))) {
        if (tt.no !== TypeProtoTensor.shape) continue;
        for (const d of fields(asBytes(tt, 'shape'))) {
          if (d.no !== TensorShapeProto.dim) continue;
          for (const v of fields(asBytes(d, 'dim'))) {
            if (v.no === TensorShapeDimension.dimValue) dims.push(asInt64(v, 'dim_value'));
            if (v.no === TensorShapeDimension.dimParam) dims.push(asString(v, 'dim_param'));
          }
        }
      }
    }
  }
  return { name, dims };
}

function graphOf(model: Uint8Array): GraphView {
  const view: GraphView = { inputs: [], outputs: [], initializers: [], nodes: [], metadata: new Map() };
  for (const m of fields(model)) {
    if (m.no === ModelProto.metadataProps) {
      const e = [...fields(asBytes(m, 'metadata'))];
      view.metadata.set(asString(e.find((x) => x.no === StringStringEntryProto.key)!, 'k'), asString(e.find((x) => x.no === StringStringEntryProto.value)!, 'v'));
    }
    if (m.no !== ModelProto.graph) continue;
    for (const f of fields(asBytes(m, 'graph'))) {
      if (f.no === GraphProto.input) view.inputs.push(valueInfo(asBytes(f, 'input')));
      else if (f.no === GraphProto.output) view.outputs.push(valueInfo(asBytes(f, 'output')));
      else if (f.no === GraphProto.initializer) {
        let name = '';
        const dims: number[] = [];
        for (const t of fields(asBytes(f, 'initializer'))) {
          if (t.no === TensorProto.name) name = asString(t, 'name');
          if (t.no === TensorProto.dims) pushVarints(t, dims, 8, 'dims');
        }
        view.initializers.push({ name, dims });
      } else if (f.no === GraphProto.node) {
        const node = { op: '', inputs: [] as string[], outputs: [] as string[], attrs: new Map<string, number | number[]>() };
        for (const n of fields(asBytes(f, 'node'))) {
          if (n.no === NodeProto.opType) node.op = asString(n, 'op');
          if (n.no === NodeProto.input) node.inputs.push(asString(n, 'in'));
          if (n.no === NodeProto.output) node.outputs.push(asString(n, 'out'));
          if (n.no === NodeProto.attribute) {
            let name = '';
            let value: number | number[] = [];
            for (const a of fields(asBytes(n, 'attr'))) {
              if (a.no === AttributeProto.name) name = asString(a, 'name');
              if (a.no === AttributeProto.i) value = asInt64(a, 'i');
              if (a.no === AttributeProto.ints) pushVarints(a, (value = []), 8, 'ints');
            }
            node.attrs.set(name, value);
          }
        }
        view.nodes.push(node);
      }
    }
  }
  return view;
}

/** The same model without its metadata_props (what a tool that drops them would write). */
function withoutMetadata(model: Uint8Array): Uint8Array {
  const w = new ProtoWriter();
  for (const f of fields(model)) {
    if (f.no === ModelProto.metadataProps) continue;
    if (f.wire === WIRE_LEN) w.bytes(f.no, f.bytes);
    else if (f.wire === WIRE_VARINT) w.int(f.no, f.lo);
    else throw new Error(`unexpected wire type ${f.wire}`);
  }
  return w.finish();
}

/** `model` with metadata entries appended (protobuf merges repeated fields across the message). */
function withMetadata(model: Uint8Array, entries: Record<string, string>): Uint8Array {
  const w = new ProtoWriter();
  for (const [k, v] of Object.entries(entries)) w.message(ModelProto.metadataProps, new ProtoWriter().string(StringStringEntryProto.key, k).string(StringStringEntryProto.value, v));
  const tail = w.finish();
  const out = new Uint8Array(model.length + tail.length);
  out.set(model);
  out.set(tail, model.length);
  return out;
}

const sameBits = (a: Float32Array, b: Float32Array): boolean => {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
};

async function runOrt(model: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, shape) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

// A LeNet5 trained with the naive strategy on full MNIST, and its key (see test/fixtures/torch/README.md).
const fixtures = new URL('./fixtures/torch/', import.meta.url);
const fixturePath = (name: string): string => fileURLToPath(new URL(name, fixtures));
const lenet5 = getArchitecture('lenet5');
const trained: ParamSet = { ...readModel([{ name: 'm.safetensors', bytes: new Uint8Array(readFileSync(fixturePath('input_lenet5.safetensors'))) }]).params, arch: 'lenet5' };
const key = parseKey(JSON.parse(readFileSync(fixturePath('key.json'), 'utf8')));

const tmp = mkdtempSync(join(tmpdir(), 'wm-onnx-std-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('standard ONNX export (format onnx)', () => {
  for (const name of ['lenet5', 'mlp']) {
    it(`when a ${name} is exported, then its graph takes 'input' [N, C, H, W] and returns 'logits' [N, classes]`, () => {
      const arch = getArchitecture(name);
      const g = graphOf(writeModel(randomParamSet(arch, 1), 'onnx', arch)[0]!.bytes);
      assert.deepEqual(g.inputs, [{ name: 'input', dims: ['N', 1, 28, 28] }]);
      assert.deepEqual(g.outputs, [{ name: 'logits', dims: ['N', 10] }]);
      assert.deepEqual(Object.fromEntries(g.metadata), { 'weightmark.layout': 'standard', 'weightmark.arch': name });
    });
  }

  it('when a LeNet5 is exported, then its initializers are conv1.weight … in OIHW and [out, in] shapes, read only by Conv and Gemm (transB = 1), and no Transpose node is left', () => {
    const bytes = writeModel(trained, 'onnx', lenet5)[0]!.bytes;
    assert.equal(sniffFormat(bytes), 'onnx');
    const g = graphOf(bytes);
    assert.deepEqual(g.initializers, [
      { name: 'conv1.weight', dims: [20, 1, 5, 5] }, { name: 'conv1.bias', dims: [20] },
      { name: 'conv2.weight', dims: [50, 20, 5, 5] }, { name: 'conv2.bias', dims: [50] },
      { name: 'fc1.weight', dims: [500, 800] }, { name: 'fc1.bias', dims: [500] },
      { name: 'fc2.weight', dims: [10, 500] }, { name: 'fc2.bias', dims: [10] },
    ]);
    const weights = new Set(g.initializers.map((i) => i.name));
    assert.deepEqual(g.nodes.filter((n) => n.op === 'Transpose'), []);
    for (const n of g.nodes) {
      const reads = n.inputs.filter((i) => weights.has(i));
      if (reads.length === 0) continue;
      assert.ok(['Conv', 'Gemm'].includes(n.op), `${n.op} reads ${reads.join(', ')}`);
      assert.deepEqual(n.inputs.slice(1), reads, `${n.op}: weight and bias are its inputs 1 and 2`);
      if (n.op === 'Gemm') assert.equal(n.attrs.get('transB'), 1);
    }
    assert.deepEqual(g.nodes.map((n) => n.op), ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Identity']);
  });

  it('when the standard export is read as stored, then each tensor is the documented PyTorch conversion of the param set (HWIO→OIHW, [in,out]→[out,in], fc1 rows HWC→CHW)', () => {
    const stored = readOnnx(writeOnnx(trained, lenet5), { asStored: true });
    assert.equal(stored.arch, undefined);
    const t = (n: string) => tensorByName(stored, n);
    const c = (n: string) => tensorByName(trained, n);
    // Undo each conversion with alignment's own tensor operations (not layout.ts, which wrote the file).
    assert.ok(sameBits(transpose(t('conv1.weight'), [2, 3, 1, 0]).data, c('conv1/kernel').data), 'conv1');
    assert.ok(sameBits(transpose(t('conv2.weight'), [2, 3, 1, 0]).data, c('conv2/kernel').data), 'conv2');
    assert.ok(sameBits(flattenChwToHwc(transpose(t('fc1.weight'), [1, 0]), 50).data, c('fc1/kernel').data), 'fc1 rows');
    assert.ok(sameBits(transpose(t('fc2.weight'), [1, 0]).data, c('fc2/kernel').data), 'fc2');
    for (const layer of ['conv1', 'conv2', 'fc1', 'fc2']) assert.ok(sameBits(t(`${layer}.bias`).data, c(`${layer}/bias`).data), `${layer} bias`);
  });

  it('when PyTorch\'s own export of the same LeNet5 is given our metadata, then it reads back as exactly our param set (the standard layout is PyTorch\'s)', () => {
    const torchOnnx = new Uint8Array(readFileSync(fixturePath('torch_lenet5.onnx')));
    const back = readOnnx(withMetadata(torchOnnx, { 'weightmark.layout': 'standard', 'weightmark.arch': 'lenet5' }));
    const input = readModel([{ name: 'in.safetensors', bytes: new Uint8Array(readFileSync(fixturePath('input_lenet5.safetensors'))) }]).params;
    assert.equal(back.arch, 'lenet5');
    assert.deepEqual(back.tensors.map((t) => t.name), input.tensors.map((t) => t.name));
    for (const t of back.tensors) assert.ok(sameBits(t.data, tensorByName(input, t.name).data), t.name);
    // Metadata that does not fit the tensors is not believed: they stay as stored.
    const forged = readOnnx(withMetadata(torchOnnx, { 'weightmark.layout': 'standard', 'weightmark.arch': 'mlp' }));
    assert.deepEqual(forged.tensors.map((t) => t.name).sort(), ['conv1.bias', 'conv1.weight', 'conv2.bias', 'conv2.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    assert.equal(forged.arch, undefined);
  });

  it('when onnxruntime runs the standard export on NCHW MNIST images, then its logits equal the NHWC export\'s on the same images within 1e-4', async (t) => {
    const data = loadDataset('mnist', 'test', { limit: 64 });
    const nchw = nhwcToNchw(data.x, data.n, lenet5.inputShape);
    const standard = await runOrt(writeModel(trained, 'onnx', lenet5)[0]!.bytes, nchw, [data.n, 1, 28, 28]);
    const nhwc = await runOrt(writeModel(trained, 'onnx-nhwc', lenet5)[0]!.bytes, data.x, [data.n, 28, 28, 1]);
    const diff = maxAbsDiff(standard, nhwc);
    t.diagnostic(`max |standard - nhwc| = ${diff.toExponential(2)} over ${data.n} images`);
    assert.ok(diff < 1e-4, `max |standard - nhwc| = ${diff}`);
    let correct = 0;
    for (let i = 0; i < data.n; i++) {
      const row = Array.from(standard.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === data.y[i]) correct++;
    }
    assert.ok(correct >= 62, `the trained LeNet5 classifies ${correct}/64 through the standard export`);
  });

  it('when a net with 3 input channels is exported both ways, then the standard graph on NCHW input and the NHWC graph agree within 1e-4, and so does the evaluator', async (t) => {
    const arch: Architecture = {
      name: 'rgb-test', description: 'test only', inputShape: [12, 10, 3], classes: 4,
      layers: [
        { type: 'conv2d', name: 'c1', filters: 5, kernel: 3, stride: 1, padding: 'same', activation: 'relu' },
        { type: 'maxPool', size: 2 },
        { type: 'conv2d', name: 'c2', filters: 6, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
        { type: 'flatten' },
        { type: 'dense', name: 'd1', units: 7, activation: 'relu' },
        { type: 'dense', name: 'out', units: 4, activation: 'none' },
      ],
    };
    const set = randomParamSet(arch, 21);
    const n = 5;
    let s = 7;
    const x = Float32Array.from({ length: n * 12 * 10 * 3 }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
    const standard = await runOrt(writeOnnx(set, arch), nhwcToNchw(x, n, arch.inputShape), [n, 3, 12, 10]);
    const nhwc = await runOrt(writeOnnx(set, arch, { layout: 'nhwc' }), x, [n, 12, 10, 3]);
    const evaluator = await predictLogits(set, arch, x, { batchSize: 2 });
    t.diagnostic(`max |standard - nhwc| = ${maxAbsDiff(standard, nhwc).toExponential(2)}`);
    assert.ok(maxAbsDiff(standard, nhwc) < 1e-4);
    assert.ok(maxAbsDiff(evaluator, nhwc) < 1e-4);
    assert.ok(nhwc.some((v) => Math.abs(v) > 0.05), 'logits are not all near zero');
  });

  for (const name of ['lenet5', 'mlp']) {
    it(`when a ${name} param set is written as standard ONNX and read back with readModel, then names, shapes, arch and every float bit are the param set's`, () => {
      const arch = getArchitecture(name);
      const set = randomParamSet(arch, 4);
      // Values a sloppy conversion would lose: -0, a subnormal, a NaN with a payload.
      const w = set.tensors[0]!.data;
      w[0] = -0;
      w[1] = 1e-40;
      new Uint32Array(w.buffer, w.byteOffset, w.length)[2] = 0x7fc01234;
      const { format, params } = readModel(writeModel(set, 'onnx', arch));
      assert.equal(format, 'onnx');
      assert.equal(params.arch, name);
      assert.deepEqual(params.tensors.map((t) => [t.name, [...t.shape]]), set.tensors.map((t) => [t.name, [...t.shape]]));
      params.tensors.forEach((t, i) => assert.ok(sameBits(t.data, set.tensors[i]!.data), t.name));
    });
  }
});

describe('NHWC ONNX export (format onnx-nhwc)', () => {
  it('when a LeNet5 is written as onnx-nhwc, then it is the old form: input [N, H, W, C], canonical initializers with a Transpose on each conv kernel, read back exactly', () => {
    const [file] = writeModel(trained, 'onnx-nhwc', lenet5);
    assert.equal(file!.name, 'model-nhwc.onnx');
    const g = graphOf(file!.bytes);
    assert.deepEqual(g.inputs, [{ name: 'input', dims: ['N', 28, 28, 1] }]);
    assert.deepEqual(g.initializers.map((i) => `${i.name}[${i.dims}]`), [
      'conv1/kernel[5,5,1,20]', 'conv1/bias[20]', 'conv2/kernel[5,5,20,50]', 'conv2/bias[50]',
      'fc1/kernel[800,500]', 'fc1/bias[500]', 'fc2/kernel[500,10]', 'fc2/bias[10]',
    ]);
    const transposed = g.nodes.filter((n) => n.op === 'Transpose').map((n) => n.inputs[0]);
    assert.ok(transposed.includes('conv1/kernel') && transposed.includes('conv2/kernel'), transposed.join(', '));
    assert.equal(g.metadata.get('weightmark.layout'), 'nhwc');
    const { params } = readModel([file!]);
    assert.equal(params.arch, 'lenet5');
    params.tensors.forEach((t, i) => assert.ok(sameBits(t.data, trained.tensors[i]!.data), t.name));
  });
});

describe('verifying a standard export', () => {
  function verify(bytes: Uint8Array) {
    const { params } = readModel([{ name: 'leak.onnx', bytes }]);
    const aligned = alignToKey(params, key, { reference: trained, arch: lenet5 });
    const extracted = extractValues(aligned.params, key);
    return { params, aligned, extracted, score: scoreAgainstKey(extracted, key, { comparisons: aligned.comparisons }) };
  }

  it('when the standard export of a watermarked LeNet5 is verified, then every keyed value comes back exactly (r = 1, match)', () => {
    const v = verify(writeOnnx(trained, lenet5));
    assert.ok(Array.from(v.extracted).every((e, i) => e === Math.fround(key.values[i]!)), 'every keyed value exact');
    assert.equal(v.score.r, 1);
    assert.equal(v.score.decision, 'match');
  });

  it('when a tool drops the metadata, then the file reads as PyTorch tensors and alignment still finds every keyed value exactly (r = 1)', () => {
    const v = verify(withoutMetadata(writeOnnx(trained, lenet5)));
    assert.ok(v.params.tensors.some((t) => t.name === 'fc1.weight'), 'read as stored');
    assert.ok(v.aligned.mapping.some((m) => m.keyTensor === 'fc1/kernel' && /flatten CHW→HWC/.test(m.transform)), JSON.stringify(v.aligned.mapping));
    assert.ok(Array.from(v.extracted).every((e, i) => e === Math.fround(key.values[i]!)), 'every keyed value exact');
    assert.equal(v.score.r, 1);
    assert.equal(v.score.decision, 'match');
  });

  it('when `weightmark export` writes the default ONNX and `weightmark extract` reads it with the key, then r = 1', async () => {
    const out = join(tmp, 'lenet5.onnx');
    const exp = await captured(() => runExport(['--model', fixturePath('input_lenet5.safetensors'), '--arch', 'lenet5', '--out', out, '--json']));
    assert.equal(exp.code, 0);
    assert.equal(JSON.parse(exp.out).format, 'onnx');
    assert.deepEqual(graphOf(new Uint8Array(readFileSync(out))).inputs[0]!.dims, ['N', 1, 28, 28]);
    const ext = await captured(() => runExtract(['--model', out, '--key', fixturePath('key.json'), '--json']));
    assert.equal(ext.code, 0);
    const r = JSON.parse(ext.out) as { r: number; decision: string; format: string };
    assert.equal(r.format, 'onnx');
    assert.equal(r.r, 1);
    assert.equal(r.decision, 'match');
    const nhwc = join(tmp, 'lenet5-nhwc.onnx');
    assert.equal((await captured(() => runExport(['--model', fixturePath('input_lenet5.safetensors'), '--arch', 'lenet5', '--format', 'onnx-nhwc', '--out', nhwc, '--json']))).code, 0);
    assert.deepEqual(graphOf(new Uint8Array(readFileSync(nhwc))).inputs[0]!.dims, ['N', 28, 28, 1]);
    assert.equal(JSON.parse((await captured(() => runExtract(['--model', nhwc, '--key', fixturePath('key.json'), '--json']))).out).r, 1);
  });
});
