/**
 * Checks and conversions every reader shares: shape validation against the limits, the running
 * tensor/element budget, and turning raw little- or big-endian bytes into a Float32Array (a zero-copy
 * view when the bytes are float32, little-endian and 4-byte aligned).
 */
import { FormatError } from './errors.js';
import type { ReadLimits } from './types.js';
import { bfloat16ToFloat32, halfToFloat32 } from './float16.js';

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Element kinds the readers convert to float32. */
export type ElementKind = 'f64' | 'f32' | 'f16' | 'bf16' | 'i64' | 'i32' | 'i16' | 'i8' | 'u64' | 'u32' | 'u16' | 'u8' | 'bool';

export const ELEMENT_BYTES: Readonly<Record<ElementKind, number>> = {
  f64: 8, f32: 4, f16: 2, bf16: 2, i64: 8, i32: 4, i16: 2, i8: 1, u64: 8, u32: 4, u16: 2, u8: 1, bool: 1,
};

/**
 * Validates a shape taken from untrusted input: an array of at most maxDims non-negative safe integers
 * whose product stays within maxTensorElements. @returns the shape and its element count.
 * @throws FormatError WM_ERR_FORMAT_MALFORMED (not an array of integers) or WM_ERR_FORMAT_TOO_LARGE.
 */
export function checkShape(shape: unknown, where: string, limits: ReadLimits): { shape: number[]; size: number } {
  if (!Array.isArray(shape)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: shape must be an array of non-negative integers, found ${describe(shape)}`);
  }
  if (shape.length > limits.maxDims) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: shape has ${shape.length} dimensions; at most ${limits.maxDims} are supported`);
  }
  let size = 1;
  const out: number[] = [];
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: shape [${shape.map(describe).join(', ')}] has a dimension ${describe(d)}; dimensions must be non-negative integers`);
    }
    out.push(d);
  }
  for (const d of out) {
    size *= d;
    if (size > limits.maxTensorElements) {
      // Keep multiplying only while it can still be zero; a later 0 makes the tensor empty.
      if (out.includes(0)) return { shape: out, size: 0 };
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: shape [${out.join(', ')}] has more than ${limits.maxTensorElements} elements, the limit per tensor`);
    }
  }
  return { shape: out, size };
}

/** Counts tensors and elements across one read so that the totals stay within the limits. */
export class ReadBudget {
  private tensors = 0;
  private elements = 0;
  constructor(private readonly limits: ReadLimits) {}

  add(where: string, elements: number): void {
    this.tensors++;
    this.elements += elements;
    if (this.tensors > this.limits.maxTensors) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: more than ${this.limits.maxTensors} tensors, the limit per model`);
    }
    if (this.elements > this.limits.maxTotalElements) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: the model has more than ${this.limits.maxTotalElements} elements in total, the limit per model`);
    }
  }
}

export function checkName(name: unknown, where: string, limits: ReadLimits): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: tensor name must be a non-empty string, found ${describe(name)}`);
  }
  if (name.length > limits.maxNameLength) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: tensor name is ${name.length} characters long; at most ${limits.maxNameLength} are supported`);
  }
  return name;
}

export function checkTotalBytes(total: number, limits: ReadLimits): void {
  if (total > limits.maxTotalBytes) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `The model files hold ${total} bytes; at most ${limits.maxTotalBytes} are accepted`);
  }
}

/**
 * Converts `count` elements of `kind` starting at `offset` in `bytes` to float32. Float32 little-endian
 * data at a 4-byte aligned address is returned as a view on `bytes` (no copy); everything else is
 * converted into a new array. The caller has checked that the range lies within `bytes`.
 */
export function toFloat32(bytes: Uint8Array, offset: number, count: number, kind: ElementKind, littleEndian = true): Float32Array {
  const byteLength = count * ELEMENT_BYTES[kind];
  if (offset < 0 || offset + byteLength > bytes.length) {
    throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `Tensor data [${offset}, ${offset + byteLength}) lies beyond the ${bytes.length} bytes available`);
  }
  const abs = bytes.byteOffset + offset;
  const native = littleEndian === HOST_LITTLE_ENDIAN;
  if (kind === 'f32' && native) {
    if (abs % 4 === 0) return new Float32Array(bytes.buffer, abs, count);
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + byteLength));
    return out;
  }
  if (kind === 'f16' || kind === 'bf16') {
    const u16 = native && abs % 2 === 0 ? new Uint16Array(bytes.buffer, abs, count) : readU16(bytes, offset, count, littleEndian);
    return kind === 'f16' ? halfToFloat32(u16) : bfloat16ToFloat32(u16);
  }
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, abs, byteLength);
  switch (kind) {
    case 'f32': for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, littleEndian); break;
    case 'f64': for (let i = 0; i < count; i++) out[i] = dv.getFloat64(i * 8, littleEndian); break;
    case 'i64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, littleEndian)); break;
    case 'u64': for (let i = 0; i < count; i++) out[i] = Number(dv.getBigUint64(i * 8, littleEndian)); break;
    case 'i32': for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, littleEndian); break;
    case 'u32': for (let i = 0; i < count; i++) out[i] = dv.getUint32(i * 4, littleEndian); break;
    case 'i16': for (let i = 0; i < count; i++) out[i] = dv.getInt16(i * 2, littleEndian); break;
    case 'u16': for (let i = 0; i < count; i++) out[i] = dv.getUint16(i * 2, littleEndian); break;
    case 'i8': for (let i = 0; i < count; i++) out[i] = dv.getInt8(i); break;
    case 'u8': for (let i = 0; i < count; i++) out[i] = dv.getUint8(i); break;
    case 'bool': for (let i = 0; i < count; i++) out[i] = dv.getUint8(i) === 0 ? 0 : 1; break;
  }
  return out;
}

function readU16(bytes: Uint8Array, offset: number, count: number, littleEndian: boolean): Uint16Array {
  const out = new Uint16Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 2);
  for (let i = 0; i < count; i++) out[i] = dv.getUint16(i * 2, littleEndian);
  return out;
}

/** Float32 data as little-endian bytes, without copying when the host is little-endian. */
export function float32Bytes(data: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

/** The parts one after another in a new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A short, bounded rendering of an untrusted value for error messages. */
export function describe(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? `'${v}'` : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Decodes strict UTF-8. @throws FormatError WM_ERR_FORMAT_MALFORMED on invalid bytes. */
export function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: text is not valid UTF-8`);
  }
}

export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: not valid JSON (${(e as Error).message.slice(0, 120)})`);
  }
}
