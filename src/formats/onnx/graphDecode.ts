/**
 * The main graph of an ONNX model as the graph importer (importGraph.ts) reads it: every node with
 * its name, op type, wiring and scalar/list/string attributes, the graph's inputs (with their dims)
 * and outputs, the names of its initializers and the values of its small integer constants (Reshape
 * shapes). Weight values are not read here: readOnnx does that. Subgraphs are not entered: a node that
 * holds one (If, Loop, Scan) is an op the importer refuses anyway.
 */
import { FormatError } from '../errors.js';
import { decodeTensor, type DecodeLimits, type TensorRef } from './decode.js';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeDimension, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto } from './schema.js';
import { asBytes, asFloat, asInt64, asString, fields, int64, pushVarints, WIRE_LEN } from './wire.js';

export interface GraphAttribute {
  readonly i?: number;
  readonly f?: number;
  readonly ints?: readonly number[];
  readonly s?: string;
}

export interface GraphNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, GraphAttribute>;
}

export interface GraphInput {
  readonly name: string;
  /** A number per fixed dimension, the symbol (or '') for a free one. */
  readonly dims: readonly (number | string)[];
}

export interface DecodedGraph {
  /** The default domain's opset the model imports. */
  readonly opset: number;
  readonly nodes: readonly GraphNode[];
  readonly inputs: readonly GraphInput[];
  readonly outputs: readonly string[];
  readonly initializers: ReadonlySet<string>;
  /** INT64 initializers and Constant-node tensors of at most 16 values, by name. */
  readonly int64Constants: ReadonlyMap<string, readonly number[]>;
}

const MAX_INT_CONSTANT = 16;

/** @throws FormatError on malformed protobuf or a model without a graph. */
export function decodeGraph(bytes: Uint8Array, limits: DecodeLimits): DecodedGraph {
  let graph: Uint8Array | undefined;
  let opset = 0;
  for (const f of fields(bytes)) {
    if (f.no === ModelProto.graph) graph = asBytes(f, 'ModelProto.graph');
    else if (f.no === ModelProto.opsetImport) {
      let domain = '';
      let version = 0;
      for (const e of fields(asBytes(f, 'ModelProto.opset_import'))) {
        if (e.no === OperatorSetIdProto.domain) domain = asString(e, 'OperatorSetIdProto.domain');
        else if (e.no === OperatorSetIdProto.version) version = asInt64(e, 'OperatorSetIdProto.version');
      }
      if (domain === '' || domain === 'ai.onnx') opset = version;
    }
  }
  if (graph === undefined) throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'ONNX: the model has no graph (ModelProto field 7)');
  const nodes: GraphNode[] = [];
  const inputs: GraphInput[] = [];
  const outputs: string[] = [];
  const initializers = new Set<string>();
  const int64Constants = new Map<string, number[]>();
  const keepInts = (t: TensorRef, name: string): void => {
    const values = int64Values(t);
    if (values) int64Constants.set(name, values);
  };
  for (const f of fields(graph)) {
    if (f.no === GraphProto.node) {
      if (nodes.length >= limits.maxNodes) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX: more than ${limits.maxNodes} nodes`);
      const node = decodeNode(asBytes(f, 'GraphProto.node'), limits);
      nodes.push(node.node);
      if (node.node.opType === 'Constant' && node.value && node.node.outputs[0]) keepInts(node.value, node.node.outputs[0]);
    } else if (f.no === GraphProto.initializer || f.no === GraphProto.sparseInitializer) {
      const t = f.no === GraphProto.initializer ? decodeTensor(asBytes(f, 'GraphProto.initializer'), 'initializer', limits) : undefined;
      const name = t?.name ?? sparseName(asBytes(f, 'GraphProto.sparse_initializer'), limits);
      initializers.add(name);
      if (t) keepInts(t, name);
    } else if (f.no === GraphProto.input) {
      inputs.push(decodeValueInfo(asBytes(f, 'GraphProto.input'), limits));
    } else if (f.no === GraphProto.output) {
      outputs.push(decodeValueInfo(asBytes(f, 'GraphProto.output'), limits).name);
    }
  }
  return { opset, nodes, inputs, outputs, initializers, int64Constants };
}

function sparseName(bytes: Uint8Array, limits: DecodeLimits): string {
  for (const f of fields(bytes)) if (f.no === 1) return decodeTensor(asBytes(f, 'SparseTensorProto.values'), 'sparse initializer', limits).name;
  return '';
}

function decodeNode(bytes: Uint8Array, limits: DecodeLimits): { node: GraphNode; value?: TensorRef } {
  let name = '';
  let opType = '';
  let domain = '';
  let value: TensorRef | undefined;
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes = new Map<string, GraphAttribute>();
  for (const f of fields(bytes)) {
    if (f.no === NodeProto.input) inputs.push(asString(f, 'NodeProto.input'));
    else if (f.no === NodeProto.output) outputs.push(asString(f, 'NodeProto.output'));
    else if (f.no === NodeProto.name) name = asString(f, 'NodeProto.name');
    else if (f.no === NodeProto.opType) opType = asString(f, 'NodeProto.op_type');
    else if (f.no === NodeProto.domain) domain = asString(f, 'NodeProto.domain');
    else if (f.no === NodeProto.attribute) {
      let key = '';
      const a: { i?: number; f?: number; ints?: number[]; s?: string } = {};
      for (const e of fields(asBytes(f, 'NodeProto.attribute'))) {
        if (e.no === AttributeProto.name) key = asString(e, 'AttributeProto.name');
        else if (e.no === AttributeProto.i) a.i = asInt64(e, 'AttributeProto.i');
        else if (e.no === AttributeProto.f) a.f = asFloat(e, 'AttributeProto.f');
        else if (e.no === AttributeProto.ints) pushVarints(e, (a.ints ??= []), 4096, 'AttributeProto.ints');
        else if (e.no === AttributeProto.s) a.s = asString(e, 'AttributeProto.s');
        else if (e.no === AttributeProto.t) value = decodeTensor(asBytes(e, 'AttributeProto.t'), 'Constant node', limits);
      }
      attributes.set(key, a);
    }
  }
  return { node: { name, opType, domain: domain === 'ai.onnx' ? '' : domain, inputs, outputs, attributes }, ...(value ? { value } : {}) };
}

/** An INT64 tensor's values when it is small (a shape or axes constant); undefined otherwise. */
function int64Values(t: TensorRef): number[] | undefined {
  if (t.dataType !== DataType.INT64 || t.external || t.sparse) return undefined;
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size > MAX_INT_CONSTANT) return undefined;
  if (t.raw) {
    if (t.raw.length !== 8 * size) return undefined;
    const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.length);
    return Array.from({ length: size }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
  }
  const out: number[] = [];
  for (const f of fields(t.message)) if (f.no === TensorProto.int64Data) pushVarints(f, out, MAX_INT_CONSTANT, 'TensorProto.int64_data');
  return out.length === size ? out : undefined;
}

function decodeValueInfo(bytes: Uint8Array, limits: DecodeLimits): GraphInput {
  let name = '';
  const dims: (number | string)[] = [];
  for (const f of fields(bytes)) {
    if (f.no === ValueInfoProto.name) name = asString(f, 'ValueInfoProto.name');
    else if (f.no === ValueInfoProto.type && f.wire === WIRE_LEN) {
      for (const t of fields(f.bytes)) {
        if (t.no !== TypeProto.tensorType || t.wire !== WIRE_LEN) continue;
        for (const s of fields(t.bytes)) {
          if (s.no !== TypeProtoTensor.shape || s.wire !== WIRE_LEN) continue;
          for (const d of fields(s.bytes)) {
            if (d.no !== TensorShapeProto.dim || d.wire !== WIRE_LEN) continue;
            if (dims.length >= limits.maxDims) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX: graph value '${name}' has more than ${limits.maxDims} dimensions`);
            let dim: number | string = '';
            for (const v of fields(d.bytes)) {
              if (v.no === TensorShapeDimension.dimValue) dim = int64(v.lo, v.hi);
              else if (v.no === TensorShapeDimension.dimParam) dim = asString(v, 'dim_param');
            }
            dims.push(dim);
          }
        }
      }
    }
  }
  return { name, dims };
}
