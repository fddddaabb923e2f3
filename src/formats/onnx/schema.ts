/**
 * The parts of onnx.proto (github.com/onnx/onnx/blob/main/onnx/onnx.proto) weightmark reads and
 * writes: field numbers and enums, nothing else. Fields not listed here are skipped when reading.
 */

export const ModelProto = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
export const OperatorSetIdProto = { domain: 1, version: 2 } as const;
export const GraphProto = { node: 1, name: 2, initializer: 5, input: 11, output: 12, sparseInitializer: 15 } as const;
export const SparseTensorProto = { values: 1, indices: 2, dims: 3 } as const;
export const NodeProto = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
export const AttributeProto = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, graphs: 11, type: 20, sparseTensor: 22 } as const;
export const TensorProto = {
  dims: 1, dataType: 2, floatData: 4, int32Data: 5, int64Data: 7, name: 8, rawData: 9, doubleData: 10,
  uint64Data: 11, externalData: 13, dataLocation: 14,
} as const;
export const StringStringEntryProto = { key: 1, value: 2 } as const;
export const ValueInfoProto = { name: 1, type: 2 } as const;
export const TypeProto = { tensorType: 1 } as const;
export const TypeProtoTensor = { elemType: 1, shape: 2 } as const;
export const TensorShapeProto = { dim: 1 } as const;
export const TensorShapeDimension = { dimValue: 1, dimParam: 2 } as const;

export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;
export const DATA_LOCATION_EXTERNAL = 1;

/** TensorProto.DataType values. */
export const DataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10,
  DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16, FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23,
} as const;

const DATA_TYPE_NAMES = new Map<number, string>(Object.entries(DataType).map(([k, v]) => [v, k]));
export function dataTypeName(t: number): string {
  return DATA_TYPE_NAMES.get(t) ?? `unknown data type ${t}`;
}

/** The IR version and default-domain opset the exporter writes (both accepted by onnxruntime 1.30). */
export const IR_VERSION = 8;
export const OPSET_VERSION = 13;
