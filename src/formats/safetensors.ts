/**
 * safetensors: u64 little-endian header length N, N bytes of JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {string: string} }`, then the
 * data buffer the offsets index into. Float types (F64, F32, F16, BF16) and integer/bool types (I64, I32,
 * I16, I8, U8, BOOL — read as their numeric values, e.g. PyTorch's `num_batches_tracked`) are read;
 * others (F8_*, U16, U32, U64, C64) are refused with WM_ERR_FORMAT_UNSUPPORTED_DTYPE.
 * Tensors are read as they are: PyTorch layouts (OIHW, [out, in]) stay as stored.
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { FormatError, guardRead } from './errors.js';
import {
  ELEMENT_BYTES, ReadBudget, checkName, checkShape, decodeUtf8, describe, float32Bytes, isPlainObject, parseJson, toFloat32,
  type ElementKind,
} from './common.js';
import { DEFAULT_READ_LIMITS, type ReadLimits, type SafetensorsDtype } from './types.js';

const DTYPES: Readonly<Record<SafetensorsDtype, ElementKind>> = {
  F64: 'f64', F32: 'f32', F16: 'f16', BF16: 'bf16', I64: 'i64', I32: 'i32', I16: 'i16', I8: 'i8', U8: 'u8', BOOL: 'bool',
};
const SUPPORTED = Object.keys(DTYPES).join(', ');

/**
 * True when the bytes start like safetensors: a plausible u64 header length, then '{'. A length running
 * past the end still sniffs (the reader then reports the truncation).
 */
export function sniffSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n < 2n ** 40n && bytes[8] === 0x7b; // '{'
}

/**
 * Reads a safetensors file into a param set, in the order of the data offsets. Aligned F32 tensors
 * are views on `bytes` (no copy): do not reuse the input buffer while the param set is in use.
 * @throws FormatError TRUNCATED (header or data beyond the file), MALFORMED (bad JSON, offsets out of
 * range, overlapping, or not matching dtype size × shape), UNSUPPORTED_DTYPE, TOO_LARGE.
 */
export function readSafetensors(bytes: Uint8Array, limits: ReadLimits = DEFAULT_READ_LIMITS, budget = new ReadBudget(limits)): ParamSet {
  return guardRead('safetensors', () => {
    if (bytes.length < 8) {
      throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `safetensors: file has ${bytes.length} bytes; the 8-byte header length is missing`);
    }
    const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n64 > BigInt(bytes.length - 8)) {
      throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `safetensors: header length ${n64} runs beyond the file's ${bytes.length} bytes`);
    }
    const n = Number(n64);
    if (n > limits.maxHeaderBytes) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `safetensors: header is ${n} bytes; at most ${limits.maxHeaderBytes} are accepted`);
    }
    const header = parseJson(decodeUtf8(bytes.subarray(8, 8 + n), 'safetensors header'), 'safetensors header');
    if (!isPlainObject(header)) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `safetensors: header must be a JSON object, found ${describe(header)}`);
    }
    const dataStart = 8 + n;
    const dataLength = bytes.length - dataStart;

    interface Pending { name: string; shape: number[]; size: number; kind: ElementKind; begin: number; end: number }
    const pending: Pending[] = [];
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') {
        if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
          throw new FormatError('WM_ERR_FORMAT_MALFORMED', `safetensors: __metadata__ must map strings to strings, found ${describe(entry)}`);
        }
        continue;
      }
      const where = `safetensors tensor '${describe(name).slice(1, -1)}'`;
      checkName(name, where, limits);
      if (!isPlainObject(entry)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: entry must be an object with dtype, shape and data_offsets, found ${describe(entry)}`);
      const dtype = entry['dtype'];
      const kind = typeof dtype === 'string' && Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype as SafetensorsDtype] : undefined;
      if (kind === undefined) {
        throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where} has dtype ${describe(dtype)}. Supported dtypes are ${SUPPORTED}.`);
      }
      const { shape, size } = checkShape(entry['shape'], where, limits);
      const offs = entry['data_offsets'];
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: data_offsets must be [begin, end] non-negative integers, found ${describe(offs)}`);
      }
      const [begin, end] = offs as [number, number];
      if (end < begin) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: data_offsets [${begin}, ${end}] end before they begin`);
      if (end > dataLength) {
        throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: data_offsets [${begin}, ${end}] run beyond the ${dataLength} data bytes in the file`);
      }
      if (end - begin !== size * ELEMENT_BYTES[kind]) {
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: data_offsets span ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${size * ELEMENT_BYTES[kind]}`);
      }
      budget.add(where, size);
      pending.push({ name, shape, size, kind, begin, end });
    }
    pending.sort((a, b) => a.begin - b.begin || a.end - b.end);
    for (let i = 1; i < pending.length; i++) {
      const prev = pending[i - 1]!;
      const cur = pending[i]!;
      if (cur.begin < prev.end) {
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `safetensors: tensors '${prev.name}' [${prev.begin}, ${prev.end}) and '${cur.name}' [${cur.begin}, ${cur.end}) overlap`);
      }
    }
    const tensors: ParamTensor[] = pending.map((p) => ({
      name: p.name,
      shape: p.shape,
      data: toFloat32(bytes, dataStart + p.begin, p.size, p.kind, true),
    }));
    return { tensors };
  });
}

/**
 * Writes a param set as safetensors, every tensor F32 (then any `counters`, I64 scalars), names as given, in the set's order. The header
 * is padded with spaces so that the data starts 8-byte aligned (readers can then view it zero-copy).
 * @throws Error when a tensor's data length does not match its shape or names repeat.
 */
export function writeSafetensors(set: ParamSet, metadata?: Record<string, string>, counters: readonly { name: string; value: number }[] = []): Uint8Array {
  const entries: [string, unknown][] = [];
  const seen = new Set<string>(['__metadata__']);
  if (metadata) entries.push(['__metadata__', metadata]);
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const add = (name: string, dtype: 'F32' | 'I64', shape: readonly number[], bytes: Uint8Array): void => {
    if (seen.has(name)) throw new Error(`writeSafetensors: tensor name '${name}' repeats or is reserved`);
    seen.add(name);
    entries.push([name, { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.length] }]);
    blobs.push(bytes);
    offset += bytes.length;
  };
  for (const t of set.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`writeSafetensors: tensor '${t.name}' has ${t.data.length} values but shape [${t.shape.join(', ')}]`);
    add(t.name, 'F32', t.shape, float32Bytes(t.data));
  }
  // Scalar int64 counters (PyTorch's `num_batches_tracked`), for a state_dict written back complete.
  for (const c of counters) add(c.name, 'I64', [], new Uint8Array(new BigInt64Array([BigInt(c.value)]).buffer));
  let json = JSON.stringify(Object.fromEntries(entries));
  let headerBytes = new TextEncoder().encode(json);
  const pad = (8 - ((8 + headerBytes.length) % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    headerBytes = new TextEncoder().encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}
