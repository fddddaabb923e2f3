/**
 * An ONNX model with some initializers' values replaced and every other byte kept: the node list,
 * names, attributes, opsets and metadata of the licensor's own graph (a training-mode export stays a
 * training-mode export). Fields are copied as they were read; only the replaced tensors are
 * re-encoded (dims, name and data type kept, the values as little-endian raw_data).
 */
import { concatBytes, float32Bytes } from '../common.js';
import { DataType, GraphProto, ModelProto, TensorProto } from './schema.js';
import { asInt64, asString, fields, ProtoWriter, pushVarints } from './wire.js';

/** Fields of a TensorProto that hold its values: dropped from a replaced tensor. */
const VALUE_FIELDS = new Set<number>([TensorProto.floatData, TensorProto.rawData, TensorProto.externalData, TensorProto.dataLocation]);

/**
 * @throws Error when a named initializer is missing from the main graph, is not FLOAT, or has another
 * number of values: the map and the graph it came from must belong together.
 */
export function replaceInitializers(model: Uint8Array, values: ReadonlyMap<string, Float32Array>): Uint8Array {
  const done = new Set<string>();
  const out: Uint8Array[] = [];
  for (const f of fields(model)) {
    if (f.no !== ModelProto.graph) out.push(model.subarray(f.start, f.end));
    else out.push(new ProtoWriter().bytes(ModelProto.graph, rewriteGraph(f.bytes, values, done)).finish());
  }
  const missing = [...values.keys()].filter((n) => !done.has(n));
  if (missing.length) throw new Error(`replaceInitializers: the graph has no initializer ${missing.slice(0, 3).map((n) => `'${n}'`).join(', ')}`);
  return concatBytes(out);
}

function rewriteGraph(graph: Uint8Array, values: ReadonlyMap<string, Float32Array>, done: Set<string>): Uint8Array {
  const out: Uint8Array[] = [];
  for (const f of fields(graph)) {
    const name = f.no === GraphProto.initializer ? tensorName(f.bytes) : undefined;
    const data = name !== undefined ? values.get(name) : undefined;
    if (!data) {
      out.push(graph.subarray(f.start, f.end));
      continue;
    }
    out.push(new ProtoWriter().bytes(GraphProto.initializer, rewriteTensor(f.bytes, name!, data)).finish());
    done.add(name!);
  }
  return concatBytes(out);
}

function tensorName(tensor: Uint8Array): string {
  for (const f of fields(tensor)) if (f.no === TensorProto.name) return asString(f, 'TensorProto.name');
  return '';
}

function rewriteTensor(tensor: Uint8Array, name: string, data: Float32Array): Uint8Array {
  const kept: Uint8Array[] = [];
  const dims: number[] = [];
  let dataType = 0;
  for (const f of fields(tensor)) {
    if (f.no === TensorProto.dims) pushVarints(f, dims, 64, 'TensorProto.dims');
    if (f.no === TensorProto.dataType) dataType = asInt64(f, 'TensorProto.data_type');
    if (!VALUE_FIELDS.has(f.no)) kept.push(tensor.subarray(f.start, f.end));
  }
  if (dataType !== DataType.FLOAT) throw new Error(`replaceInitializers: initializer '${name}' is not FLOAT (data type ${dataType})`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`replaceInitializers: initializer '${name}' holds ${size} values; ${data.length} were given`);
  return concatBytes([...kept, new ProtoWriter().bytes(TensorProto.rawData, float32Bytes(data)).finish()]);
}
