/**
 * Small, valid ONNX files for tests and the fuzz harness, made by our own writer and by hand with the
 * encodings other exporters use (typed float_data, FLOAT16, DOUBLE, an INT8 weight behind a
 * DequantizeLinear, a Constant node), so mutations start from every code path of the reader.
 */
import { getArchitecture, paramSpecs, type Architecture } from '../../core/architectures.js';
import type { ParamSet } from '../../core/paramSet.js';
import { AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, SparseTensorProto, TensorProto } from './schema.js';
import { valueInfo } from './graph.js';
import { ProtoWriter } from './wire.js';
import { writeOnnx } from './write.js';

/** A deterministic param set of `arch` with He-scaled uniform values (mulberry32 from `seed`). */
export function randomParamSet(arch: Architecture, seed: number): ParamSet {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    arch: arch.name,
    tensors: paramSpecs(arch).map((spec) => {
      const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      const bound = spec.role === 'bias' ? 0.1 : Math.sqrt(6 / spec.fanIn);
      for (let i = 0; i < data.length; i++) data[i] = (next() * 2 - 1) * bound;
      return { name: spec.name, shape: [...spec.shape], data };
    }),
  };
}

/**
 * A model whose graph holds the given tensors (as initializers) and nodes, written by hand. `outputs`
 * declares float graph outputs (name → shape), so that onnxruntime can run the model.
 */
export function handModel(initializers: readonly ProtoWriter[], nodes: readonly ProtoWriter[] = [], outputs: Readonly<Record<string, readonly number[]>> = {}): Uint8Array {
  const g = new ProtoWriter();
  for (const n of nodes) g.message(GraphProto.node, n);
  g.string(GraphProto.name, 'hand');
  for (const t of initializers) g.message(GraphProto.initializer, t);
  for (const [name, shape] of Object.entries(outputs)) g.message(GraphProto.output, valueInfo(name, shape));
  const opset = new ProtoWriter().string(OperatorSetIdProto.domain, '').int(OperatorSetIdProto.version, 13);
  return new ProtoWriter().int(ModelProto.irVersion, 8).string(ModelProto.producerName, 'hand')
    .message(ModelProto.graph, g).message(ModelProto.opsetImport, opset).finish();
}

/** A TensorProto with dims, type and name; the caller appends the data fields. */
export function handTensor(name: string, dims: readonly number[], dataType: number): ProtoWriter {
  return new ProtoWriter().packedInts(TensorProto.dims, dims).int(TensorProto.dataType, dataType).string(TensorProto.name, name);
}

export function handNode(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: readonly ProtoWriter[] = []): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of inputs) n.string(NodeProto.input, i);
  for (const o of outputs) n.string(NodeProto.output, o);
  n.string(NodeProto.opType, opType);
  for (const a of attrs) n.message(NodeProto.attribute, a);
  return n;
}

export function intAttribute(name: string, value: number): ProtoWriter {
  return new ProtoWriter().string(AttributeProto.name, name).int(AttributeProto.i, value).int(AttributeProto.type, AttributeType.INT);
}

export function tensorAttribute(name: string, tensor: ProtoWriter): ProtoWriter {
  return new ProtoWriter().string(AttributeProto.name, name).message(AttributeProto.t, tensor).int(AttributeProto.type, AttributeType.TENSOR);
}

function packedFloats(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return b;
}

function packedDoubles(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat64(i * 8, v, true));
  return b;
}

/** One hand-written model exercising each typed encoding, the dequantizer and a Constant node. */
export function handSampleModel(): Uint8Array {
  const typedFloat = handTensor('typed_float', [2, 3], DataType.FLOAT).bytes(TensorProto.floatData, packedFloats([1, -2, 3.5, 0, 0.25, -8]));
  const half = handTensor('half', [3], DataType.FLOAT16).packedInts(TensorProto.int32Data, [0x3c00, 0xc000, 0x3800]); // 1, -2, 0.5
  const double = handTensor('double', [2], DataType.DOUBLE).bytes(TensorProto.doubleData, packedDoubles([0.125, -1e3]));
  const q = handTensor('q_weight', [2, 2], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([10, 0xf6, 0, 127])); // 10, -10, 0, 127
  const scale = handTensor('q_scale', [], DataType.FLOAT).bytes(TensorProto.rawData, packedFloats([0.5]));
  const zp = handTensor('q_zero', [], DataType.INT8).bytes(TensorProto.rawData, Uint8Array.from([2]));
  const shape = handTensor('shape_const', [2], DataType.INT64).packedInts(TensorProto.int64Data, [1, -1]);
  const constValue = handTensor('', [2], DataType.FLOAT).bytes(TensorProto.rawData, packedFloats([7, 8]));
  const nodes = [
    handNode('DequantizeLinear', ['q_weight', 'q_scale', 'q_zero'], ['w_dq']),
    handNode('Constant', [], ['const_weight'], [tensorAttribute('value', constValue)]),
  ];
  return handModel([typedFloat, half, double, q, scale, zp, shape], nodes);
}

/** A second hand-made model: a sparse initializer, per-axis dequantization, unpacked floats, a subgraph. */
export function handSampleModel2(): Uint8Array {
  const values = handTensor('sparse_w', [2], DataType.FLOAT).bytes(TensorProto.rawData, packedFloats([3, -4]));
  const indices = handTensor('', [2], DataType.INT64).packedInts(TensorProto.int64Data, [1, 3]);
  const sparse = new ProtoWriter().message(SparseTensorProto.values, values).message(SparseTensorProto.indices, indices).packedInts(SparseTensorProto.dims, [2, 2]);
  const q = handTensor('q_axis', [2, 3], DataType.UINT8).packedInts(TensorProto.int32Data, [0, 10, 20, 128, 129, 255]);
  const scale = handTensor('q_axis_scale', [2], DataType.FLOAT).bytes(TensorProto.floatData, packedFloats([0.1, 2]));
  const zp = handTensor('q_axis_zero', [2], DataType.UINT8).bytes(TensorProto.rawData, Uint8Array.from([10, 128]));
  const unpacked = handTensor('unpacked', [2], DataType.FLOAT).float(TensorProto.floatData, 0.5).float(TensorProto.floatData, -0.5);
  const inner = new ProtoWriter().string(GraphProto.name, 'body')
    .message(GraphProto.initializer, handTensor('body_w', [1], DataType.BFLOAT16).packedInts(TensorProto.int32Data, [0x3f80]));
  const ifNode = handNode('If', ['cond'], ['if_out'], [new ProtoWriter().string(AttributeProto.name, 'then_branch').message(AttributeProto.g, inner).int(AttributeProto.type, AttributeType.GRAPH)]);
  const g = new ProtoWriter()
    .message(GraphProto.node, handNode('DequantizeLinear', ['q_axis', 'q_axis_scale', 'q_axis_zero'], ['q_axis_dq'], [intAttribute('axis', 0)]))
    .message(GraphProto.node, ifNode)
    .string(GraphProto.name, 'hand2');
  for (const t of [q, scale, zp, unpacked]) g.message(GraphProto.initializer, t);
  g.message(GraphProto.sparseInitializer, sparse);
  const opset = new ProtoWriter().string(OperatorSetIdProto.domain, '').int(OperatorSetIdProto.version, 13);
  return new ProtoWriter().int(ModelProto.irVersion, 8).string(ModelProto.producerName, 'hand')
    .message(ModelProto.graph, g).message(ModelProto.opsetImport, opset).finish();
}

/** A small conv net (3 KB exported) with every layer type, so fuzzers can afford our writer's output. */
export const TINY_CONV: Architecture = {
  name: 'tiny-conv',
  description: 'fuzzing sample: conv 3@3x3 stride 2 same, pool 2, conv 4@3x3, flatten, dense 10',
  inputShape: [28, 28, 1],
  classes: 10,
  layers: [
    { type: 'conv2d', name: 'c1', filters: 3, kernel: 3, stride: 2, padding: 'same', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'conv2d', name: 'c2', filters: 4, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'out', units: 10, activation: 'none' },
  ],
};

/**
 * Valid ONNX files for fuzzing: the two hand-made models, a tiny conv net export, our LeNet5 and MLP
 * exports (seeded random weights, 1.7 and 1.1 MB), all in the standard layout, then the tiny conv net
 * in the NHWC layout. Each call returns fresh arrays, so callers may mutate them.
 */
export function sampleOnnxFiles(): Uint8Array[] {
  return [
    handSampleModel(),
    handSampleModel2(),
    writeOnnx(randomParamSet(TINY_CONV, 3), TINY_CONV),
    writeOnnx(randomParamSet(getArchitecture('lenet5'), 1), getArchitecture('lenet5')),
    writeOnnx(randomParamSet(getArchitecture('mlp'), 2), getArchitecture('mlp')),
    writeOnnx(randomParamSet(TINY_CONV, 3), TINY_CONV, { layout: 'nhwc' }),
  ].map((b) => new Uint8Array(b));
}
