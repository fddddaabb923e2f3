/**
 * NumPy .npy: magic '\x93NUMPY', version (1.0, 2.0, 3.0), header length (u16 for v1, u32 for v2/v3),
 * then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` and the data.
 * Floats '<f2' '<f4' '<f8' (and big-endian '>f…', converted), integers and bool (read as their numeric
 * values) are read; Fortran-order arrays are transposed to C order; object, string, complex, datetime and
 * structured dtypes are refused with WM_ERR_FORMAT_UNSUPPORTED_DTYPE. The header is parsed, never
 * evaluated.
 */
import type { ParamTensor } from '../core/paramSet.js';
import { FormatError, guardRead } from './errors.js';
import { ELEMENT_BYTES, ReadBudget, HOST_LITTLE_ENDIAN, checkName, checkShape, describe, float32Bytes, toFloat32, type ElementKind } from './common.js';
import { DEFAULT_READ_LIMITS, type NpyHeader, type ReadLimits } from './types.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const KINDS: Readonly<Record<string, ElementKind>> = {
  f2: 'f16', f4: 'f32', f8: 'f64', i1: 'i8', i2: 'i16', i4: 'i32', i8: 'i64', u1: 'u8', u2: 'u16', u4: 'u32', u8: 'u64', b1: 'bool',
};
/** NumPy's own np.load refuses headers over 10,000 bytes by default; 64 KiB leaves room and bounds parsing. */
const NPY_MAX_HEADER = 64 * 1024;
const SUPPORTED = "'<f2', '<f4', '<f8' (and '>' big-endian), integer 'i1'…'i8', 'u1'…'u8' and bool 'b1'";

export function sniffNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Parses the header of a .npy file. @throws FormatError TRUNCATED, MALFORMED, UNSUPPORTED (version),
 * TOO_LARGE (header beyond maxHeaderBytes).
 */
export function readNpyHeader(bytes: Uint8Array, limits: ReadLimits = DEFAULT_READ_LIMITS, where = 'npy'): NpyHeader {
  if (bytes.length < 10) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: ${bytes.length} bytes is too short for a .npy header`);
  if (!sniffNpy(bytes)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: does not start with the .npy magic '\\x93NUMPY'`);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: ${bytes.length} bytes is too short for a v${major} .npy header`);
    hlen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${where}: .npy version ${major}.${minor}; supported versions are 1.0, 2.0 and 3.0`);
  }
  const maxHeader = Math.min(limits.maxHeaderBytes, NPY_MAX_HEADER);
  if (hlen > maxHeader) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `${where}: header is ${hlen} bytes; at most ${maxHeader} are accepted`);
  if (start + hlen > bytes.length) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: header of ${hlen} bytes runs beyond the file's ${bytes.length} bytes`);
  const raw = bytes.subarray(start, start + hlen);
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : latin1(raw);
  const dict = parsePyDict(text, where);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where}: dtype ${describe(descr)} is not a simple dtype (structured arrays are not supported). Supported dtypes are ${SUPPORTED}.`);
  }
  if (typeof fortran !== 'boolean') throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: header needs 'fortran_order': True or False, found ${describe(fortran)}`);
  if (!Array.isArray(shape)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: header needs 'shape' as a tuple of integers, found ${describe(shape)}`);
  return { descr, fortranOrder: fortran, shape: shape as number[], dataOffset: start + hlen };
}

/**
 * Reads one .npy array as a tensor named `name`. Aligned little-endian float32 data in C order is a view
 * on `bytes` (no copy). @throws FormatError (see module doc).
 */
export function readNpy(bytes: Uint8Array, name: string, limits: ReadLimits = DEFAULT_READ_LIMITS, budget = new ReadBudget(limits)): ParamTensor {
  return guardRead(`npy '${name}'`, () => {
    const where = `npy '${name}'`;
    checkName(name, where, limits);
    const h = readNpyHeader(bytes, limits, where);
    const m = /^([<>|=])([fiub])(\d+)$/.exec(h.descr);
    const kind = m ? KINDS[`${m[2]}${m[3]}`] : undefined;
    if (!m || kind === undefined) {
      throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where} has dtype '${h.descr.slice(0, 40)}'. Supported dtypes are ${SUPPORTED}.`);
    }
    const order = m[1]!;
    if (order === '|' && ELEMENT_BYTES[kind] > 1) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: dtype '${h.descr}' has no byte order but ${ELEMENT_BYTES[kind]}-byte elements`);
    }
    const littleEndian = order === '<' || order === '|' || (order === '=' && HOST_LITTLE_ENDIAN);
    const { shape, size } = checkShape(h.shape, where, limits);
    const byteLength = size * ELEMENT_BYTES[kind];
    if (h.dataOffset + byteLength > bytes.length) {
      throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where}: ${h.descr} [${shape.join(', ')}] needs ${byteLength} data bytes, the file has ${bytes.length - h.dataOffset}`);
    }
    budget.add(where, size);
    const data = toFloat32(bytes, h.dataOffset, size, kind, littleEndian);
    return { name, shape, data: h.fortranOrder && shape.length > 1 ? fortranToC(data, shape) : data };
  });
}

/** Writes one tensor as a v1.0 '<f4' C-order .npy, header padded so the data starts 64-byte aligned. */
export function writeNpy(t: ParamTensor): Uint8Array {
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) throw new Error(`writeNpy: tensor '${t.name}' has ${t.data.length} values but shape [${t.shape.join(', ')}]`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + t.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(float32Bytes(t.data), total);
  return out;
}

function fortranToC(src: Float32Array, shape: number[]): Float32Array {
  const n = shape.length;
  const fStride = new Array<number>(n);
  let s = 1;
  for (let k = 0; k < n; k++) {
    fStride[k] = s;
    s *= shape[k]!;
  }
  const out = new Float32Array(src.length);
  if (src.length === 0) return out;
  const idx = new Array<number>(n).fill(0);
  let off = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = src[off]!;
    for (let k = n - 1; k >= 0; k--) {
      idx[k]!++;
      off += fStride[k]!;
      if (idx[k]! < shape[k]!) break;
      off -= fStride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

type PyValue = string | boolean | number[] | null | PyValue[];

/** Parses the restricted Python literal NumPy writes: a dict of str → str | bool | tuple of int | list. */
function parsePyDict(text: string, where: string): Map<string, PyValue> {
  let i = 0;
  const fail = (what: string): never => {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: header is not a NumPy header dict (${what} at character ${i} of '${text.slice(0, 60)}')`);
  };
  const ws = () => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') return fail('expected a string');
    const end = text.indexOf(q, i + 1);
    if (end < 0) return fail('unterminated string');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  let depth = 0;
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (text.startsWith('True', i)) { i += 4; return true; }
    if (text.startsWith('False', i)) { i += 5; return false; }
    if (text.startsWith('None', i)) { i += 4; return null; }
    if (c === '(' || c === '[') {
      if (++depth > 8) return fail('nesting too deep');
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      for (;;) {
        ws();
        if (text[i] === close) { i++; break; }
        const intMatch = /^-?\d+L?/.exec(text.slice(i, i + 32));
        if (intMatch) {
          i += intMatch[0].length;
          items.push(Number.parseInt(intMatch[0], 10) as unknown as PyValue);
        } else {
          items.push(value());
        }
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) return fail(`expected ',' or '${close}'`);
      }
      depth--;
      return items as PyValue;
    }
    return fail('unexpected value');
  };
  const out = new Map<string, PyValue>();
  ws();
  if (text[i] !== '{') fail("expected '{'");
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') { i++; break; }
    const key = str();
    ws();
    if (text[i] !== ':') fail("expected ':'");
    i++;
    if (out.has(key)) fail(`key '${key}' repeats`);
    out.set(key, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
  }
  ws();
  if (i !== text.length) fail('trailing characters');
  return out;
}
