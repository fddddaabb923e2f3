import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FormatError } from '../src/formats/errors.js';
import { readOnnx } from '../src/formats/onnx/read.js';
import { handModel, handNode, handSampleModel, handTensor, sampleOnnxFiles } from '../src/formats/onnx/samples.js';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, TensorProto } from '../src/formats/onnx/schema.js';
import { ProtoWriter } from '../src/formats/onnx/wire.js';

/** The FormatError code readOnnx throws, 'ok' when it reads; any other exception fails the test. */
function outcome(bytes: Uint8Array, limits = {}): string {
  try {
    readOnnx(bytes, { limits });
    return 'ok';
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`not a FormatError: ${String(e)}`, { cause: e });
    return e.code;
  }
}

function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  return Uint8Array.from([...out, Number(v)]);
}
const f32 = (values: readonly number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const modelWithGraphBytes = (graph: Uint8Array): Uint8Array => new ProtoWriter().int(ModelProto.irVersion, 8).bytes(ModelProto.graph, graph).finish();
const graphWith = (tensor: ProtoWriter): Uint8Array => new ProtoWriter().message(GraphProto.initializer, tensor).finish();

describe('readOnnx on bad input', () => {
  it('when a file is cut anywhere inside its graph, then it is refused as truncated', () => {
    const hand = handSampleModel();
    for (let cut = 0; cut < hand.length; cut++) {
      const code = outcome(hand.subarray(0, cut));
      assert.ok(['WM_ERR_FORMAT_TRUNCATED', 'WM_ERR_FORMAT_MALFORMED', 'ok'].includes(code), `cut ${cut}: ${code}`);
    }
    const lenet = sampleOnnxFiles()[3]!;
    // Header: ir_version [0, 2), producer_name [2, 14), producer_version [14, 21), then the graph.
    const T = 'WM_ERR_FORMAT_TRUNCATED';
    const M = 'WM_ERR_FORMAT_MALFORMED'; // cut between fields before the graph: a model without graph
    for (const [cut, code] of [[1, T], [2, M], [3, T], [21, M], [22, T], [1000, T], [500_000, T], [lenet.length - 30, T]] as const) {
      assert.equal(outcome(lenet.subarray(0, cut)), code, `cut ${cut}`);
    }
  });

  it('when a tag has a wire type ONNX never uses, or field number 0, then it is refused as malformed', () => {
    for (const tag of [0x0b /* group start */, 0x0c /* group end */, 0x0e, 0x0f, 0x00 /* field 0 */]) {
      assert.equal(outcome(Uint8Array.from([0x08, 0x08, tag, 0x00])), 'WM_ERR_FORMAT_MALFORMED', `tag ${tag}`);
    }
  });

  it('when a length runs past the buffer, then it is refused as truncated', () => {
    assert.equal(outcome(Uint8Array.from([0x3a, 0x7f, 0x01, 0x02])), 'WM_ERR_FORMAT_TRUNCATED');
    // A length of 2^63: must not wrap around or allocate.
    assert.equal(outcome(Uint8Array.from([0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), 'WM_ERR_FORMAT_TRUNCATED');
  });

  it('when a varint runs longer than 10 bytes, then it is refused as malformed', () => {
    assert.equal(outcome(Uint8Array.from([0x08, ...new Array(11).fill(0xff), 0x01])), 'WM_ERR_FORMAT_MALFORMED');
  });

  it('when a model has no graph, then it is refused as malformed', () => {
    assert.equal(outcome(new ProtoWriter().int(ModelProto.irVersion, 8).finish()), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(new Uint8Array(0)), 'WM_ERR_FORMAT_MALFORMED');
  });

  it('when dims are negative, huge, or too many, then the tensor is refused before any allocation', () => {
    const t = (dims: number[]) => handModel([handTensor('w', dims, DataType.FLOAT).bytes(TensorProto.rawData, f32([1]))]);
    assert.equal(outcome(t([-1])), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(t([2 ** 40, 2 ** 40])), 'WM_ERR_FORMAT_TOO_LARGE');
    const dims = new ProtoWriter().bytes(TensorProto.dims, varint(2n ** 60n)).int(TensorProto.dataType, DataType.FLOAT).string(TensorProto.name, 'w');
    assert.equal(outcome(modelWithGraphBytes(graphWith(dims))), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(t(new Array(20).fill(1))), 'WM_ERR_FORMAT_TOO_LARGE');
    assert.equal(outcome(t([65536, 65536]), { maxTensorElements: 1e6 }), 'WM_ERR_FORMAT_TOO_LARGE');
  });

  it('when a tiny file declares a huge tensor in typed fields, then it is refused before the tensor is allocated', () => {
    for (const type of [DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]) {
      const before = process.memoryUsage().arrayBuffers;
      const tiny = handModel([handTensor('w', [2 ** 27], type).float(TensorProto.floatData, 1)]);
      assert.ok(tiny.length < 100);
      assert.equal(outcome(tiny), 'WM_ERR_FORMAT_MALFORMED');
      assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'allocated the declared shape');
    }
  });

  it('when the data length does not match the dims, then the tensor is refused as malformed', () => {
    assert.equal(outcome(handModel([handTensor('w', [2, 2], DataType.FLOAT).bytes(TensorProto.rawData, f32([1, 2, 3]))])), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(handModel([handTensor('w', [2], DataType.FLOAT).bytes(TensorProto.floatData, f32([1, 2, 3]))])), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(handModel([handTensor('w', [4], DataType.FLOAT16).packedInts(TensorProto.int32Data, [1, 2])])), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(handModel([handTensor('w', [3], DataType.DOUBLE)])), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(handModel([handTensor('w', [2], DataType.FLOAT).bytes(TensorProto.floatData, Uint8Array.from([1, 2, 3, 4, 5]))])), 'WM_ERR_FORMAT_MALFORMED');
  });

  it('when a field has the wrong wire type for its meaning, then it is refused as malformed', () => {
    const wrongName = new ProtoWriter().int(TensorProto.name, 5);
    assert.equal(outcome(modelWithGraphBytes(graphWith(wrongName))), 'WM_ERR_FORMAT_MALFORMED');
    assert.equal(outcome(new ProtoWriter().int(ModelProto.graph, 1).finish()), 'WM_ERR_FORMAT_MALFORMED');
  });

  it('when graphs nest deeper than the limit (If bodies inside If bodies), then it is refused without exhausting the stack', () => {
    let graph = graphWith(handTensor('w', [1], DataType.FLOAT).bytes(TensorProto.rawData, f32([1])));
    for (let depth = 0; depth < 5000; depth++) {
      const attr = new ProtoWriter().string(AttributeProto.name, 'then_branch').bytes(AttributeProto.g, graph);
      const node = new ProtoWriter().string(NodeProto.opType, 'If').message(NodeProto.attribute, attr);
      graph = new ProtoWriter().message(GraphProto.node, node).finish();
    }
    assert.equal(outcome(modelWithGraphBytes(graph)), 'WM_ERR_FORMAT_TOO_LARGE');
  });

  it('when a graph has more nodes or initializers than the limits, then it is refused as too large', () => {
    const g = new ProtoWriter();
    for (let i = 0; i < 2000; i++) g.message(GraphProto.node, handNode('Relu', [`a${i}`], [`b${i}`]));
    assert.equal(outcome(modelWithGraphBytes(g.finish()), { maxNodes: 1000 }), 'WM_ERR_FORMAT_TOO_LARGE');
    assert.equal(outcome(modelWithGraphBytes(g.finish()), { maxNodes: 2000 }), 'ok');
    const shapes = Array.from({ length: 200 }, (_, i) => handTensor(`s${i}`, [1], DataType.INT64).packedInts(TensorProto.int64Data, [i]));
    assert.equal(outcome(handModel(shapes), { maxInitializers: 100 }), 'WM_ERR_FORMAT_TOO_LARGE');
  });

  it('when a subgraph within the depth limit holds a weight, then it is read', () => {
    const inner = graphWith(handTensor('inner_w', [1], DataType.FLOAT).bytes(TensorProto.rawData, f32([9])));
    const attr = new ProtoWriter().string(AttributeProto.name, 'body').bytes(AttributeProto.g, inner);
    const node = new ProtoWriter().string(NodeProto.opType, 'Loop').message(NodeProto.attribute, attr);
    const set = readOnnx(modelWithGraphBytes(new ProtoWriter().message(GraphProto.node, node).finish()));
    assert.deepEqual(set.tensors.map((t) => t.name), ['inner_w']);
  });

  it('when two tensors share a name, or a scale is not a constant, then it is refused', () => {
    const w = () => handTensor('w', [1], DataType.FLOAT).bytes(TensorProto.rawData, f32([1]));
    assert.equal(outcome(handModel([w(), w()])), 'WM_ERR_FORMAT_MALFORMED');
    const q = handTensor('q', [1], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([1]));
    assert.equal(outcome(handModel([q], [handNode('DequantizeLinear', ['q', 'graph_input_scale'], ['y'])])), 'WM_ERR_FORMAT_UNSUPPORTED');
  });

  it('when the sample files are mutated at random, then readOnnx returns or throws a FormatError, and never hangs', () => {
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const samples = sampleOnnxFiles();
    const started = Date.now();
    const codes = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const bytes = samples[i % samples.length]!.slice();
      // Mutate the head of the file, where the structure is (tensor payloads dominate the rest).
      const span = Math.min(bytes.length, 4096);
      for (let k = 0, m = 1 + rand(4); k < m; k++) bytes[rand(span)] = rand(256);
      const code = outcome(bytes);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    assert.ok(Date.now() - started < 10_000, 'fuzzing took too long');
    assert.ok(codes.size > 2, `outcomes: ${JSON.stringify([...codes])}`);
  });
});
