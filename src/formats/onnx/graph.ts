/**
 * A small ONNX graph builder: named values, nodes with attributes, float initializers, and the
 * ModelProto around them. It knows protobuf field numbers, not layers; write.ts knows layers.
 */
import { float32Bytes } from '../common.js';
import {
  AttributeProto, AttributeType, DataType, GraphProto, IR_VERSION, ModelProto, NodeProto, OPSET_VERSION,
  OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeDimension, TensorShapeProto, TypeProto, TypeProtoTensor,
  ValueInfoProto,
} from './schema.js';
import { ProtoWriter } from './wire.js';

export type AttributeValue = number | readonly number[] | string | { readonly float: number };

/** A dimension: a size, or a symbolic name such as "N" for the batch. */
export type Dim = number | string;

export class GraphBuilder {
  private readonly nodes: ProtoWriter[] = [];
  private readonly initializers: ProtoWriter[] = [];
  private readonly inputs: ProtoWriter[] = [];
  private readonly outputs: ProtoWriter[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly name: string) {}

  /** A value name not used yet, derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, shape: readonly Dim[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, shape));
    return name;
  }

  output(name: string, shape: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, shape));
  }

  /** Adds a float32 initializer under exactly `name`. */
  initializer(name: string, shape: readonly number[], data: Float32Array): string {
    if (this.used.has(name)) throw new Error(`GraphBuilder: value '${name}' already exists`);
    this.used.add(name);
    const t = new ProtoWriter().packedInts(TensorProto.dims, shape).int(TensorProto.dataType, DataType.FLOAT)
      .string(TensorProto.name, name).bytes(TensorProto.rawData, float32Bytes(data));
    this.initializers.push(t);
    return name;
  }

  /**
   * Adds an int64 initializer (shapes, axes, pads for the ops that take them as inputs) under a fresh
   * name from `hint`; 1-D unless `shape` says. Returns its name.
   */
  int64Initializer(hint: string, values: readonly number[], shape: readonly number[] = [values.length]): string {
    const name = this.fresh(hint);
    this.initializers.push(new ProtoWriter().packedInts(TensorProto.dims, shape).int(TensorProto.dataType, DataType.INT64)
      .string(TensorProto.name, name).packedInts(TensorProto.int64Data, values));
    return name;
  }

  /** Adds one node; returns its output's name (`output` if given, else a fresh name from the op type). */
  node(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, output?: string): string {
    return this.nodeOutputs(opType, inputs, attributes, [output ?? this.fresh(opType.toLowerCase())])[0]!;
  }

  /** A node with several outputs (MaxPool's values and indices); an empty name leaves that output out. */
  nodeOutputs(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>>, outputs: readonly string[]): readonly string[] {
    for (const o of outputs) if (o) this.used.add(o);
    const n = new ProtoWriter();
    for (const i of inputs) n.string(NodeProto.input, i);
    for (const o of outputs) n.string(NodeProto.output, o);
    n.string(NodeProto.name, `${opType}:${outputs[0]}`).string(NodeProto.opType, opType);
    for (const [key, value] of Object.entries(attributes)) n.message(NodeProto.attribute, attribute(key, value));
    this.nodes.push(n);
    return outputs;
  }

  /**
   * The serialized ModelProto. `docString` and `metadata` (ModelProto.metadata_props) are written after
   * the graph, so the header's byte offsets do not depend on them.
   */
  finish(producerName: string, producerVersion: string, extra: { docString?: string; metadata?: Readonly<Record<string, string>> } = {}): Uint8Array {
    const g = new ProtoWriter();
    for (const n of this.nodes) g.message(GraphProto.node, n);
    g.string(GraphProto.name, this.name);
    for (const t of this.initializers) g.message(GraphProto.initializer, t);
    for (const i of this.inputs) g.message(GraphProto.input, i);
    for (const o of this.outputs) g.message(GraphProto.output, o);
    const opset = new ProtoWriter().string(OperatorSetIdProto.domain, '').int(OperatorSetIdProto.version, OPSET_VERSION);
    const model = new ProtoWriter()
      .int(ModelProto.irVersion, IR_VERSION)
      .string(ModelProto.producerName, producerName)
      .string(ModelProto.producerVersion, producerVersion)
      .message(ModelProto.graph, g)
      .message(ModelProto.opsetImport, opset);
    if (extra.docString) model.string(ModelProto.docString, extra.docString);
    for (const [key, value] of Object.entries(extra.metadata ?? {})) {
      model.message(ModelProto.metadataProps, new ProtoWriter().string(StringStringEntryProto.key, key).string(StringStringEntryProto.value, value));
    }
    return model.finish();
  }
}

function attribute(name: string, value: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(AttributeProto.name, name);
  if (typeof value === 'number') return a.int(AttributeProto.i, value).int(AttributeProto.type, AttributeType.INT);
  if (typeof value === 'string') return a.string(AttributeProto.s, value).int(AttributeProto.type, AttributeType.STRING);
  if ('float' in value) return a.float(AttributeProto.f, value.float).int(AttributeProto.type, AttributeType.FLOAT);
  return a.packedInts(AttributeProto.ints, value).int(AttributeProto.type, AttributeType.INTS);
}

/** A float tensor's ValueInfoProto (graph inputs and outputs). */
export function valueInfo(name: string, shape: readonly Dim[]): ProtoWriter {
  const dims = new ProtoWriter();
  for (const d of shape) {
    const dim = typeof d === 'number' ? new ProtoWriter().int(TensorShapeDimension.dimValue, d) : new ProtoWriter().string(TensorShapeDimension.dimParam, d);
    dims.message(TensorShapeProto.dim, dim);
  }
  const tensorType = new ProtoWriter().int(TypeProtoTensor.elemType, DataType.FLOAT).message(TypeProtoTensor.shape, dims);
  return new ProtoWriter().string(ValueInfoProto.name, name).message(ValueInfoProto.type, new ProtoWriter().message(TypeProto.tensorType, tensorType));
}
