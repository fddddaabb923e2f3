/**
 * Decodes an ONNX ModelProto into the little weightmark needs: every tensor (graph initializers and
 * Constant nodes, subgraphs included) as metadata plus views of its bytes, and every node's op type,
 * inputs, outputs and scalar attributes. Tensor payloads are not converted here (see read.ts), so the
 * memory used stays proportional to the number of tensors and nodes, not to the file size.
 */
import { FormatError } from '../errors.js';
import {
  AttributeProto, DATA_LOCATION_EXTERNAL, GraphProto, ModelProto, NodeProto, SparseTensorProto, StringStringEntryProto, TensorProto,
} from './schema.js';
import { asBytes, asFloat, asInt64, asString, fields, pushVarints, WIRE_LEN } from './wire.js';

export interface DecodeLimits {
  /** Graphs nested inside node attributes (If/Loop/Scan bodies); the main graph is depth 0. */
  readonly maxGraphDepth: number;
  /** Nodes across all graphs. */
  readonly maxNodes: number;
  /** Initializers and Constant tensors across all graphs, weights or not (shape constants count). */
  readonly maxInitializers: number;
  readonly maxDims: number;
}

export interface TensorRef {
  readonly name: string;
  readonly dims: number[];
  readonly dataType: number;
  /** The whole TensorProto message, re-read for typed (float_data, int32_data, …) payloads. */
  readonly message: Uint8Array;
  readonly raw?: Uint8Array;
  /** Set when data_location = EXTERNAL: the key/value entries (location, offset, length, …). */
  readonly external?: Map<string, string>;
  /** Where it was found, for error messages: "initializer" or "Constant node". */
  readonly origin: string;
  /**
   * Set for a SparseTensorProto: this ref describes its values ([NNZ]); `indices` are INT64, either
   * [NNZ] linear indices or [NNZ, rank] coordinates into the dense shape `dims`.
   */
  readonly sparse?: { readonly indices: TensorRef; readonly dims: number[] };
}

export interface AttributeRef {
  readonly i?: number;
  readonly f?: number;
  readonly ints?: number[];
  readonly t?: TensorRef;
  readonly sparse?: TensorRef;
}

export interface NodeRef {
  readonly opType: string;
  readonly domain: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attributes: Map<string, AttributeRef>;
}

export interface DecodedModel {
  readonly irVersion: number;
  readonly producer: string;
  /** ModelProto.metadata_props entries whose key starts with `weightmark.` (our exports' layout and architecture). */
  readonly metadata: Map<string, string>;
  /** Initializers and Constant-node tensors of all graphs, in the order met. */
  readonly tensors: TensorRef[];
  /** Only the nodes the reader needs (Constant and dequantizing ops); others are scanned, not kept. */
  readonly nodes: NodeRef[];
  /** All nodes met, kept or not. */
  nodeCount: number;
}

/** Op types whose inputs and attributes the reader needs; every other node is only searched for subgraphs. */
const KEPT_OPS = new Set(['Constant', 'DequantizeLinear', 'QLinearConv', 'QLinearMatMul']);

/** @throws FormatError on malformed protobuf, a missing graph, or a limit exceeded. */
export function decodeModel(bytes: Uint8Array, limits: DecodeLimits): DecodedModel {
  let irVersion = 0;
  let producer = '';
  let graph: Uint8Array | undefined;
  const metadata = new Map<string, string>();
  for (const f of fields(bytes)) {
    if (f.no === ModelProto.irVersion) irVersion = asInt64(f, 'ModelProto.ir_version');
    else if (f.no === ModelProto.producerName) producer = asString(f, 'ModelProto.producer_name');
    else if (f.no === ModelProto.graph) graph = asBytes(f, 'ModelProto.graph');
    else if (f.no === ModelProto.metadataProps) readMetadataEntry(asBytes(f, 'ModelProto.metadata_props'), metadata);
  }
  if (graph === undefined) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'ONNX: the model has no graph (ModelProto field 7)');
  }
  const model: DecodedModel = { irVersion, producer, metadata, tensors: [], nodes: [], nodeCount: 0 };
  decodeGraph(graph, 0, model, limits);
  return model;
}

const METADATA_PREFIX = 'weightmark.';
const latin1 = new TextDecoder('latin1');

/**
 * Keeps a short `weightmark.*` entry (our exports' hints). Other entries are skipped undecoded:
 * a foreign file's metadata, however long or badly encoded, never makes it unreadable.
 */
function readMetadataEntry(bytes: Uint8Array, into: Map<string, string>): void {
  let key: Uint8Array | undefined;
  let value: Uint8Array | undefined;
  for (const e of fields(bytes)) {
    if (e.no === StringStringEntryProto.key && e.wire === WIRE_LEN) key = e.bytes;
    else if (e.no === StringStringEntryProto.value && e.wire === WIRE_LEN) value = e.bytes;
  }
  if (!key || key.length > 64 || !value || value.length > 256) return;
  const k = latin1.decode(key);
  // Our keys and values are ASCII, so latin1 reads them exactly; anything else is not ours.
  const v = latin1.decode(value);
  if (k.startsWith(METADATA_PREFIX) && /^[\x20-\x7e]*$/.test(k + v)) into.set(k, v);
}

function decodeGraph(bytes: Uint8Array, depth: number, model: DecodedModel, limits: DecodeLimits): void {
  if (depth > limits.maxGraphDepth) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX: graphs nest more than ${limits.maxGraphDepth} levels deep`);
  }
  const addTensor = (t: TensorRef): void => {
    if (model.tensors.length >= limits.maxInitializers) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX: more than ${limits.maxInitializers} initializers and constants`);
    }
    model.tensors.push(t);
  };
  for (const f of fields(bytes)) {
    if (f.no === GraphProto.initializer) {
      addTensor(decodeTensor(asBytes(f, 'GraphProto.initializer'), 'initializer', limits));
    } else if (f.no === GraphProto.sparseInitializer) {
      addTensor(decodeSparse(asBytes(f, 'GraphProto.sparse_initializer'), 'sparse initializer', limits));
    } else if (f.no === GraphProto.node) {
      if (++model.nodeCount > limits.maxNodes) {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX: more than ${limits.maxNodes} nodes`);
      }
      const nodeBytes = asBytes(f, 'GraphProto.node');
      const opType = scanOpType(nodeBytes);
      if (!KEPT_OPS.has(opType)) {
        decodeSubgraphs(nodeBytes, depth, model, limits);
        continue;
      }
      const node = decodeNode(nodeBytes, depth, model, limits);
      if (node.domain !== '' && node.domain !== 'com.microsoft') continue;
      model.nodes.push(node);
      const value = node.attributes.get('value')?.t ?? node.attributes.get('sparse_value')?.sparse;
      if (node.opType === 'Constant' && node.domain === '' && value !== undefined && node.outputs[0]) {
        addTensor({ ...value, name: node.outputs[0], origin: 'Constant node' });
      }
    }
  }
}

function scanOpType(nodeBytes: Uint8Array): string {
  for (const f of fields(nodeBytes)) if (f.no === NodeProto.opType) return asString(f, 'NodeProto.op_type');
  return '';
}

/** Decodes only the graphs inside a node's attributes (If/Loop/Scan bodies), for their weights. */
function decodeSubgraphs(nodeBytes: Uint8Array, depth: number, model: DecodedModel, limits: DecodeLimits): void {
  for (const f of fields(nodeBytes)) {
    if (f.no !== NodeProto.attribute) continue;
    for (const a of fields(asBytes(f, 'NodeProto.attribute'))) {
      if (a.no === AttributeProto.g || a.no === AttributeProto.graphs) decodeGraph(asBytes(a, 'AttributeProto.g'), depth + 1, model, limits);
    }
  }
}

function decodeNode(bytes: Uint8Array, depth: number, model: DecodedModel, limits: DecodeLimits): NodeRef {
  const node: NodeRef = { opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  let opType = '';
  let domain = '';
  for (const f of fields(bytes)) {
    if (f.no === NodeProto.input) node.inputs.push(asString(f, 'NodeProto.input'));
    else if (f.no === NodeProto.output) node.outputs.push(asString(f, 'NodeProto.output'));
    else if (f.no === NodeProto.opType) opType = asString(f, 'NodeProto.op_type');
    else if (f.no === NodeProto.domain) domain = asString(f, 'NodeProto.domain');
    else if (f.no === NodeProto.attribute) decodeAttribute(asBytes(f, 'NodeProto.attribute'), node, depth, model, limits);
  }
  // ai.onnx is the default domain under two spellings.
  return { ...node, opType, domain: domain === 'ai.onnx' ? '' : domain };
}

function decodeAttribute(bytes: Uint8Array, node: NodeRef, depth: number, model: DecodedModel, limits: DecodeLimits): void {
  let name = '';
  const attr: { i?: number; f?: number; ints?: number[]; t?: TensorRef; sparse?: TensorRef } = {};
  for (const f of fields(bytes)) {
    switch (f.no) {
      case AttributeProto.name: name = asString(f, 'AttributeProto.name'); break;
      case AttributeProto.i: attr.i = asInt64(f, 'AttributeProto.i'); break;
      case AttributeProto.f: attr.f = asFloat(f, 'AttributeProto.f'); break;
      case AttributeProto.ints: pushVarints(f, (attr.ints ??= []), 4096, 'AttributeProto.ints'); break;
      case AttributeProto.t: attr.t = decodeTensor(asBytes(f, 'AttributeProto.t'), 'attribute', limits); break;
      case AttributeProto.sparseTensor: attr.sparse = decodeSparse(asBytes(f, 'AttributeProto.sparse_tensor'), 'attribute', limits); break;
      case AttributeProto.g:
      case AttributeProto.graphs:
        decodeGraph(asBytes(f, 'AttributeProto.g'), depth + 1, model, limits);
        break;
    }
  }
  node.attributes.set(name, attr);
}

function decodeSparse(bytes: Uint8Array, origin: string, limits: DecodeLimits): TensorRef {
  let values: TensorRef | undefined;
  let indices: TensorRef | undefined;
  const dims: number[] = [];
  for (const f of fields(bytes)) {
    if (f.no === SparseTensorProto.values) values = decodeTensor(asBytes(f, 'SparseTensorProto.values'), origin, limits);
    else if (f.no === SparseTensorProto.indices) indices = decodeTensor(asBytes(f, 'SparseTensorProto.indices'), origin, limits);
    else if (f.no === SparseTensorProto.dims) pushVarints(f, dims, limits.maxDims, 'SparseTensorProto.dims');
  }
  if (!values || !indices) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX: a sparse tensor (${origin}) lacks its ${values ? 'indices' : 'values'}`);
  }
  return { ...values, sparse: { indices, dims } };
}

export function decodeTensor(bytes: Uint8Array, origin: string, limits: DecodeLimits): TensorRef {
  let name = '';
  let dataType = 0;
  let raw: Uint8Array | undefined;
  let location = 0;
  let entries: Map<string, string> | undefined;
  const dims: number[] = [];
  for (const f of fields(bytes)) {
    switch (f.no) {
      case TensorProto.dims: pushVarints(f, dims, limits.maxDims, 'TensorProto.dims'); break;
      case TensorProto.dataType: dataType = asInt64(f, 'TensorProto.data_type'); break;
      case TensorProto.name: name = asString(f, 'TensorProto.name'); break;
      case TensorProto.rawData: raw = asBytes(f, 'TensorProto.raw_data'); break;
      case TensorProto.dataLocation: location = asInt64(f, 'TensorProto.data_location'); break;
      case TensorProto.externalData: {
        let key = '';
        let value = '';
        for (const e of fields(asBytes(f, 'TensorProto.external_data'))) {
          if (e.no === StringStringEntryProto.key) key = asString(e, 'external_data key');
          else if (e.no === StringStringEntryProto.value) value = asString(e, 'external_data value');
        }
        (entries ??= new Map()).set(key, value);
        break;
      }
    }
  }
  return {
    name, dims, dataType, message: bytes, origin,
    ...(raw !== undefined ? { raw } : {}),
    ...(location === DATA_LOCATION_EXTERNAL ? { external: entries ?? new Map() } : {}),
  };
}
