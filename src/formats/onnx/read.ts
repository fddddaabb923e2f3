/**
 * ONNX → param set. Reads every weight tensor of a model faithfully as stored (names and layouts are
 * not mapped here; alignment does that): graph initializers and Constant nodes, in any graph. One
 * exception: our own exports, recognised by their metadata_props and by holding exactly their
 * architecture's tensors, come back as the canonical param set (layout.ts), so that
 * readOnnx(writeOnnx(set, arch)) = set in the standard (PyTorch) layout too. `asStored` turns it off.
 *
 * - FLOAT, FLOAT16, BFLOAT16, DOUBLE tensors become Float32Array, from raw_data or the typed fields.
 * - Integer tensors that a dequantizing node consumes as its weight (DequantizeLinear input 0,
 *   QLinearConv / QLinearMatMul input 3) are dequantized with that node's scale and zero point, per
 *   tensor or per axis; the scale and zero-point tensors themselves are not weights and are left out.
 * - Other integer, bool and string tensors (shape constants, indices) are skipped.
 * - data_location = EXTERNAL tensors are read from `externalData` by their `location` entry.
 */
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';
import { checkName, checkShape, checkTotalBytes, ELEMENT_BYTES, ReadBudget, toFloat32, type ElementKind } from '../common.js';
import { FormatError } from '../errors.js';
import { bfloat16ToFloat32, halfToFloat32 } from '../float16.js';
import { DEFAULT_READ_LIMITS, type ReadLimits } from '../types.js';
import { decodeModel, type DecodeLimits, type NodeRef, type TensorRef } from './decode.js';
import { ownExportAsCanonical } from './layout.js';
import { DataType, dataTypeName, TensorProto } from './schema.js';
import { fields, int64, readVarint, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './wire.js';

export type OnnxReadLimits = ReadLimits & DecodeLimits;

export const DEFAULT_ONNX_READ_LIMITS: OnnxReadLimits = Object.freeze({
  ...DEFAULT_READ_LIMITS,
  maxGraphDepth: 8,
  maxNodes: 1_000_000,
  maxInitializers: 100_000,
});

export interface ReadOnnxOptions {
  /** Files holding external tensor data, keyed by the name the model's `location` entries use. */
  readonly externalData?: ReadonlyMap<string, Uint8Array>;
  readonly limits?: Partial<OnnxReadLimits>;
  /** Return our own standard exports as stored (`conv1.weight`, OIHW, …) instead of in canonical layout. */
  readonly asStored?: boolean;
}

const FLOAT_KINDS = new Map<number, ElementKind>([
  [DataType.FLOAT, 'f32'], [DataType.FLOAT16, 'f16'], [DataType.BFLOAT16, 'bf16'], [DataType.DOUBLE, 'f64'],
]);
const INTEGER_KINDS = new Map<number, ElementKind>([
  [DataType.INT8, 'i8'], [DataType.UINT8, 'u8'], [DataType.INT16, 'i16'], [DataType.UINT16, 'u16'],
  [DataType.INT32, 'i32'], [DataType.UINT32, 'u32'], [DataType.INT64, 'i64'], [DataType.UINT64, 'u64'],
]);
/** Float types of a width we do not convert; a weight stored in one is refused, never dropped. */
const UNSUPPORTED_FLOATS = new Set<number>([
  DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ, DataType.FLOAT4E2M1,
  DataType.COMPLEX64, DataType.COMPLEX128,
]);
const SUPPORTED_TEXT = 'FLOAT, FLOAT16, BFLOAT16, DOUBLE (dense or sparse), and dense INT8/UINT8/INT16/UINT16/INT32 weights behind a DequantizeLinear';

/** How one node dequantizes an integer weight: y = (x - zeroPoint) * scale, along `axis` if per axis. */
interface Dequantization {
  readonly op: string;
  readonly scale: string;
  readonly zeroPoint?: string;
  /** Axis of the weight the scale runs along; resolved against the weight's rank at use. */
  readonly axis: number;
  readonly blockSize: number;
}

/**
 * Reads the weight tensors of an ONNX model. Names are kept as stored; shapes are the stored dims.
 * @throws FormatError only: WM_ERR_FORMAT_TRUNCATED / _MALFORMED for broken protobuf or inconsistent
 * tensors, _UNSUPPORTED_DTYPE for weights in a type we cannot convert, _MISSING_FILE when external
 * data was not given, _TOO_LARGE when a limit is exceeded.
 */
export function readOnnx(bytes: Uint8Array, opts: ReadOnnxOptions = {}): ParamSet {
  const limits: OnnxReadLimits = { ...DEFAULT_ONNX_READ_LIMITS, ...opts.limits };
  let total = bytes.length;
  for (const b of opts.externalData?.values() ?? []) total += b.length;
  checkTotalBytes(total, limits);

  const model = decodeModel(bytes, limits);
  const byName = new Map<string, TensorRef>();
  for (const t of model.tensors) {
    if (byName.has(t.name)) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX: two tensors are named '${t.name}'`);
    }
    byName.set(t.name, t);
  }
  const dequantized = dequantizations(model.nodes, byName);
  const metadata = new Set<string>();
  for (const d of dequantized.values()) {
    metadata.add(d.scale);
    if (d.zeroPoint) metadata.add(d.zeroPoint);
  }

  const budget = new ReadBudget(limits);
  const out: ParamTensor[] = [];
  for (const t of model.tensors) {
    if (metadata.has(t.name) && !dequantized.has(t.name)) continue;
    const where = `ONNX tensor '${t.name}' (${t.origin})`;
    checkName(t.name, where, limits);
    const dq = dequantized.get(t.name);
    if (t.sparse && FLOAT_KINDS.has(t.dataType)) {
      const { shape, size } = checkShape(t.sparse.dims, where, limits);
      budget.add(where, size);
      out.push({ name: t.name, shape, data: densify(t, shape, size, where, limits, opts.externalData) });
    } else if (FLOAT_KINDS.has(t.dataType)) {
      const { shape, size } = checkShape(t.dims, where, limits);
      budget.add(where, size);
      out.push({ name: t.name, shape, data: floatValues(t, size, where, opts.externalData) });
    } else if (dq && INTEGER_KINDS.has(t.dataType) && !t.sparse) {
      const { shape, size } = checkShape(t.dims, where, limits);
      budget.add(where, size);
      out.push({ name: t.name, shape, data: dequantize(t, shape, size, dq, byName, where, limits, opts.externalData) });
    } else if (UNSUPPORTED_FLOATS.has(t.dataType) || dq) {
      throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where} has data type ${dataTypeName(t.dataType)}${t.sparse ? ' (sparse)' : ''}${dq ? ` and feeds ${dq.op}` : ''}. Supported weight types are ${SUPPORTED_TEXT}.`);
    }
  }
  return (opts.asStored ? undefined : ownExportAsCanonical(out, model.metadata)) ?? { tensors: out };
}

/** Integer weights consumed by a dequantizing node, keyed by the weight's name. */
function dequantizations(nodes: readonly NodeRef[], tensors: ReadonlyMap<string, TensorRef>): Map<string, Dequantization> {
  const out = new Map<string, Dequantization>();
  const add = (node: NodeRef, data: number, scale: number, zp: number, axis: number): void => {
    const name = node.inputs[data];
    const scaleName = node.inputs[scale];
    const t = name ? tensors.get(name) : undefined;
    if (!t || !scaleName || out.has(name!) || !INTEGER_KINDS.has(t.dataType)) return;
    const zeroPoint = node.inputs[zp];
    out.set(name!, {
      op: node.opType, scale: scaleName, axis,
      blockSize: node.attributes.get('block_size')?.i ?? 0,
      ...(zeroPoint ? { zeroPoint } : {}),
    });
  };
  for (const node of nodes) {
    if (node.domain !== '' && node.domain !== 'com.microsoft') continue;
    if (node.opType === 'DequantizeLinear') add(node, 0, 1, 2, node.attributes.get('axis')?.i ?? 1);
    else if (node.opType === 'QLinearConv') add(node, 3, 4, 5, 0);
    else if (node.opType === 'QLinearMatMul') add(node, 3, 4, 5, -1);
  }
  return out;
}

function dequantize(
  t: TensorRef, shape: number[], size: number, dq: Dequantization, tensors: ReadonlyMap<string, TensorRef>,
  where: string, limits: OnnxReadLimits, external?: ReadonlyMap<string, Uint8Array>,
): Float32Array {
  const scaleRef = tensors.get(dq.scale);
  if (!scaleRef || !FLOAT_KINDS.has(scaleRef.dataType)) {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${where} feeds ${dq.op}, whose scale '${dq.scale}' is not a float constant in the model; only constant scales can be applied`);
  }
  const scaleWhere = `ONNX scale '${dq.scale}' of ${where}`;
  const scale = floatValues(scaleRef, checkShape(scaleRef.dims, scaleWhere, limits).size, scaleWhere, external);
  let zeroPoint: Float64Array = new Float64Array(scale.length);
  if (dq.zeroPoint) {
    const zpRef = tensors.get(dq.zeroPoint);
    if (!zpRef || !INTEGER_KINDS.has(zpRef.dataType)) {
      throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${where} feeds ${dq.op}, whose zero point '${dq.zeroPoint}' is not an integer constant in the model`);
    }
    const zpWhere = `ONNX zero point '${dq.zeroPoint}' of ${where}`;
    zeroPoint = integerValues(zpRef, checkShape(zpRef.dims, zpWhere, limits).size, zpWhere, external);
    if (zeroPoint.length !== scale.length) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: ${dq.op} has ${scale.length} scales but ${zeroPoint.length} zero points`);
    }
  }
  if (dq.blockSize > 0) {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${where} is block-quantized (${dq.op} block_size ${dq.blockSize}); per-tensor and per-axis quantization are supported`);
  }
  const q = integerValues(t, size, where, external);
  const out = new Float32Array(size);
  if (scale.length === 1) {
    const s = scale[0]!;
    const z = zeroPoint[0]!;
    for (let i = 0; i < size; i++) out[i] = (q[i]! - z) * s;
    return out;
  }
  const axis = dq.axis < 0 ? dq.axis + shape.length : dq.axis;
  if (axis < 0 || axis >= shape.length || shape[axis] !== scale.length) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: ${dq.op} has ${scale.length} scales along axis ${dq.axis}, but the weight's shape is [${shape.join(', ')}]`);
  }
  // Index along `axis` of flat element i: floor(i / inner) mod shape[axis].
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const n = scale.length;
  for (let i = 0; i < size; i++) {
    const c = Math.floor(i / inner) % n;
    out[i] = (q[i]! - zeroPoint[c]!) * scale[c]!;
  }
  return out;
}

/** A sparse tensor as its dense array: zeros except at the indices, which must lie within the shape. */
function densify(t: TensorRef, shape: number[], size: number, where: string, limits: OnnxReadLimits, external?: ReadonlyMap<string, Uint8Array>): Float32Array {
  const idx = t.sparse!.indices;
  const nnz = checkShape(t.dims, `${where} values`, limits);
  if (nnz.shape.length !== 1) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: sparse values must be 1-D, found [${t.dims.join(', ')}]`);
  const n = nnz.size;
  const linear = idx.dims.length === 1 && idx.dims[0] === n;
  const coords = idx.dims.length === 2 && idx.dims[0] === n && idx.dims[1] === shape.length;
  if (!(linear || coords) || !INTEGER_KINDS.has(idx.dataType)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: sparse indices of shape [${idx.dims.join(', ')}] do not fit ${n} values in [${shape.join(', ')}]`);
  }
  const values = floatValues(t, n, `${where} values`, external);
  const indices = integerValues(idx, linear ? n : n * shape.length, `${where} indices`, external);
  const out = new Float32Array(size);
  for (let k = 0; k < n; k++) {
    let at = 0;
    if (linear) at = indices[k]!;
    else {
      for (let d = 0; d < shape.length; d++) {
        const c = indices[k * shape.length + d]!;
        if (c < 0 || c >= shape[d]!) at = -1;
        if (at >= 0) at = at * shape[d]! + c;
      }
    }
    if (!(at >= 0 && at < size)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: sparse index ${k} lies outside [${shape.join(', ')}]`);
    out[at] = values[k]!;
  }
  return out;
}

// ---- payloads -------------------------------------------------------------------------------------

/** The tensor's bytes when stored as raw_data or externally; undefined when in typed fields. */
function rawBytes(t: TensorRef, size: number, kind: ElementKind, where: string, external?: ReadonlyMap<string, Uint8Array>): Uint8Array | undefined {
  const need = size * ELEMENT_BYTES[kind];
  let bytes: Uint8Array | undefined = t.raw;
  if (t.external) bytes = externalBytes(t.external, need, where, external);
  if (bytes !== undefined && bytes.length !== need) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where} holds ${bytes.length} bytes of data, but its shape [${t.dims.join(', ')}] of ${dataTypeName(t.dataType)} needs ${need}`);
  }
  return bytes;
}

function externalBytes(entries: ReadonlyMap<string, string>, need: number, where: string, files?: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const location = entries.get('location');
  if (!location) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where} is stored externally but names no location`);
  const file = findExternalFile(location, files);
  if (!file) {
    throw new FormatError('WM_ERR_FORMAT_MISSING_FILE', `${where} keeps its data in the external file '${location}' (data_location = EXTERNAL); upload that file together with the model`);
  }
  const offset = parseExternalInt(entries.get('offset') ?? '0', 'offset', where);
  const length = entries.has('length') ? parseExternalInt(entries.get('length')!, 'length', where) : need;
  if (offset + length > file.length) {
    throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: bytes [${offset}, ${offset + length}) lie beyond the ${file.length} bytes of '${location}'`);
  }
  return file.subarray(offset, offset + length);
}

/** Matches a location entry to an uploaded file: exactly, without a leading "./", or by base name. */
function findExternalFile(location: string, files?: ReadonlyMap<string, Uint8Array>): Uint8Array | undefined {
  if (!files) return undefined;
  const base = location.split(/[\\/]/).pop() ?? location;
  return files.get(location) ?? files.get(location.replace(/^\.\//, '')) ?? files.get(base);
}

function parseExternalInt(s: string, what: string, where: string): number {
  if (!/^\d{1,15}$/.test(s)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: external data ${what} '${s.slice(0, 40)}' is not a non-negative integer`);
  return Number(s);
}

function floatValues(t: TensorRef, size: number, where: string, external?: ReadonlyMap<string, Uint8Array>): Float32Array {
  const kind = FLOAT_KINDS.get(t.dataType)!;
  const raw = rawBytes(t, size, kind, where, external);
  if (raw) return toFloat32(raw, 0, size, kind);
  const field = t.dataType === DataType.FLOAT ? TensorProto.floatData : t.dataType === DataType.DOUBLE ? TensorProto.doubleData : TensorProto.int32Data;
  checkTypedCount(t, field, t.dataType === DataType.FLOAT ? 4 : t.dataType === DataType.DOUBLE ? 8 : 0, size, where);
  switch (t.dataType) {
    case DataType.FLOAT: {
      const out = new Float32Array(size);
      typedValues(t, TensorProto.floatData, WIRE_I32, size, where, (i, f, off) => {
        out[i] = new DataView(f.buffer, f.byteOffset + off, 4).getFloat32(0, true);
      });
      return out;
    }
    case DataType.DOUBLE: {
      const out = new Float32Array(size);
      typedValues(t, TensorProto.doubleData, WIRE_I64, size, where, (i, f, off) => {
        out[i] = new DataView(f.buffer, f.byteOffset + off, 8).getFloat64(0, true);
      });
      return out;
    }
    default: {
      // FLOAT16 and BFLOAT16 keep their bit patterns in int32_data.
      const bits = new Uint16Array(size);
      typedVarints(t, TensorProto.int32Data, size, where, (i, v) => { bits[i] = v & 0xffff; });
      return t.dataType === DataType.FLOAT16 ? halfToFloat32(bits) : bfloat16ToFloat32(bits);
    }
  }
}

/** Integer tensor values as float64 (exact for every int32, and int64 within ±2^53). */
function integerValues(t: TensorRef, size: number, where: string, external?: ReadonlyMap<string, Uint8Array>): Float64Array {
  const kind = INTEGER_KINDS.get(t.dataType)!;
  const raw = rawBytes(t, size, kind, where, external);
  if (raw) {
    const out = new Float64Array(size);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let i = 0; i < size; i++) {
      switch (kind) {
        case 'i8': out[i] = dv.getInt8(i); break;
        case 'u8': out[i] = dv.getUint8(i); break;
        case 'i16': out[i] = dv.getInt16(2 * i, true); break;
        case 'u16': out[i] = dv.getUint16(2 * i, true); break;
        case 'i32': out[i] = dv.getInt32(4 * i, true); break;
        case 'u32': out[i] = dv.getUint32(4 * i, true); break;
        case 'i64': out[i] = Number(dv.getBigInt64(8 * i, true)); break;
        default: out[i] = Number(dv.getBigUint64(8 * i, true)); break;
      }
    }
    return out;
  }
  // Narrow integers live in int32_data; INT64 in int64_data; UINT32/UINT64 in uint64_data.
  const field = kind === 'i64' ? TensorProto.int64Data : kind === 'u32' || kind === 'u64' ? TensorProto.uint64Data : TensorProto.int32Data;
  const unsigned = field === TensorProto.uint64Data;
  checkTypedCount(t, field, 0, size, where);
  const out = new Float64Array(size);
  typedVarints(t, field, size, where, (i, lo, hi) => {
    out[i] = unsigned ? hi * 0x1_0000_0000 + lo : int64(lo, hi);
  });
  return out;
}

/**
 * Counts the values of a repeated field (`width` 4 or 8 for fixed-width, 0 for varints) without
 * decoding them, so a tiny file cannot make us allocate its declared shape before the data is checked.
 */
function checkTypedCount(t: TensorRef, no: number, width: number, size: number, where: string): void {
  let n = 0;
  for (const f of fields(t.message)) {
    if (f.no !== no) continue;
    if (f.wire !== WIRE_LEN) n++;
    else if (width > 0) n += Math.floor(f.bytes.length / width);
    else for (const b of f.bytes) if (b < 0x80) n++;
  }
  if (n !== size) throw countMismatch(where, size, n);
}

/** Visits the fixed-width values of a repeated field, packed or not; checks the count equals `size`. */
function typedValues(t: TensorRef, no: number, wire: number, size: number, where: string, put: (i: number, bytes: Uint8Array, offset: number) => void): void {
  const width = wire === WIRE_I32 ? 4 : 8;
  let n = 0;
  for (const f of fields(t.message)) {
    if (f.no !== no) continue;
    if (f.wire === WIRE_LEN) {
      if (f.bytes.length % width !== 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: packed field ${no} is not a whole number of ${width}-byte values`);
      const count = f.bytes.length / width;
      if (n + count > size) throw countMismatch(where, size, n + count);
      for (let k = 0; k < count; k++) put(n++, f.bytes, k * width);
    } else if (f.wire === wire) {
      if (n + 1 > size) throw countMismatch(where, size, n + 1);
      put(n++, f.bytes, 0);
    } else {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: field ${no} has wire type ${f.wire}`);
    }
  }
  if (n !== size) throw countMismatch(where, size, n);
}

/** Visits the varint values of a repeated field, packed or not; checks the count equals `size`. */
function typedVarints(t: TensorRef, no: number, size: number, where: string, put: (i: number, lo: number, hi: number) => void): void {
  let n = 0;
  for (const f of fields(t.message)) {
    if (f.no !== no) continue;
    if (f.wire === WIRE_LEN) {
      let pos = 0;
      while (pos < f.bytes.length) {
        if (n >= size) throw countMismatch(where, size, n + 1);
        const [lo, hi, next] = readVarint(f.bytes, pos);
        put(n++, lo, hi);
        pos = next;
      }
    } else if (f.wire === WIRE_VARINT) {
      if (n >= size) throw countMismatch(where, size, n + 1);
      put(n++, f.lo, f.hi);
    } else {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: field ${no} has wire type ${f.wire}`);
    }
  }
  if (n !== size) throw countMismatch(where, size, n);
}

function countMismatch(where: string, size: number, found: number): FormatError {
  return new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: its shape holds ${size} values but the data has ${found === size + 1 ? 'more' : found}`);
}
