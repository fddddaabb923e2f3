/**
 * The protobuf wire format, by hand: a bounded, zero-copy field reader and a small writer.
 *
 * Why not protobufjs: an ONNX upload can be 500 MB of raw_data. Here every length-delimited field comes
 * back as a subarray *view* of the upload (no copy until a tensor is converted), packed repeated floats
 * are never expanded into JS number arrays, 64-bit varints are read without Long objects, and the
 * whole decoder is ~150 lines we can audit against untrusted input: every length is checked against
 * the buffer, varints stop at 10 bytes, groups are refused, nesting depth is bounded by the caller.
 */
import { FormatError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** One field of a message. `lo`/`hi` hold a varint's two 32-bit halves; `bytes` views the payload. */
export interface Field {
  readonly no: number;
  readonly wire: number;
  readonly lo: number;
  readonly hi: number;
  /** WIRE_LEN: the payload; WIRE_I32/WIRE_I64: its 4/8 bytes; WIRE_VARINT: empty. */
  readonly bytes: Uint8Array;
  /** The whole field (tag included) spans [start, end) of the message: for copying it unchanged. */
  readonly start: number;
  readonly end: number;
}

const EMPTY = new Uint8Array(0);

function truncated(what: string): FormatError {
  return new FormatError('WM_ERR_FORMAT_TRUNCATED', `ONNX protobuf: ${what} runs past the end of its message`);
}

/** Reads a varint at `pos`; returns [lo, hi, next position]. At most 10 bytes. */
export function readVarint(buf: Uint8Array, pos: number): [number, number, number] {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw truncated('a varint');
    const b = buf[pos++]!;
    if (i < 4) lo |= (b & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (b & 0x0f) << 28;
      hi |= (b & 0x7f) >> 4;
    } else hi |= (b & 0x7f) << (7 * i - 32);
    if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0, pos];
  }
  throw new FormatError('WM_ERR_FORMAT_MALFORMED', 'ONNX protobuf: a varint is longer than 10 bytes');
}

/** Unsigned value of a varint (exact below 2^53). */
export function uint64(lo: number, hi: number): number {
  return hi * 0x1_0000_0000 + lo;
}

/** Two's-complement int64 value of a varint (exact within ±2^53). */
export function int64(lo: number, hi: number): number {
  return (hi | 0) * 0x1_0000_0000 + lo;
}

/**
 * Iterates the fields of one message. Unknown fields are the caller's to ignore: every field is
 * delimited here, so skipping is free. @throws FormatError on truncation, bad wire types or tags.
 */
export function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [tagLo, tagHi, afterTag] = readVarint(buf, pos);
    pos = afterTag;
    const no = tagLo >>> 3;
    const wire = tagLo & 7;
    if (tagHi !== 0 || no === 0 || no > 0x1fffffff) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX protobuf: invalid field number in tag at byte ${afterTag - 1}`);
    }
    switch (wire) {
      case WIRE_VARINT: {
        const [lo, hi, next] = readVarint(buf, pos);
        pos = next;
        yield { no, wire, lo, hi, bytes: EMPTY, start, end: pos };
        break;
      }
      case WIRE_I64:
      case WIRE_I32: {
        const n = wire === WIRE_I64 ? 8 : 4;
        if (pos + n > buf.length) throw truncated(`a fixed-width field ${no}`);
        yield { no, wire, lo: 0, hi: 0, bytes: buf.subarray(pos, pos + n), start, end: pos + n };
        pos += n;
        break;
      }
      case WIRE_LEN: {
        const [lo, hi, next] = readVarint(buf, pos);
        const len = uint64(lo, hi);
        if (len > buf.length - next) {
          throw truncated(`field ${no} (declares ${len} bytes, ${buf.length - next} remain)`);
        }
        pos = next + len;
        yield { no, wire, lo: 0, hi: 0, bytes: buf.subarray(next, pos), start, end: pos };
        break;
      }
      default:
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX protobuf: field ${no} has wire type ${wire}; ONNX uses only 0, 1, 2 and 5`);
    }
  }
}

function expectWire(f: Field, wire: number, what: string): void {
  if (f.wire !== wire) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX protobuf: ${what} (field ${f.no}) has wire type ${f.wire}, expected ${wire}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function asString(f: Field, what: string): string {
  expectWire(f, WIRE_LEN, what);
  try {
    return utf8.decode(f.bytes);
  } catch {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `ONNX protobuf: ${what} is not valid UTF-8`);
  }
}

export function asBytes(f: Field, what: string): Uint8Array {
  expectWire(f, WIRE_LEN, what);
  return f.bytes;
}

export function asInt64(f: Field, what: string): number {
  expectWire(f, WIRE_VARINT, what);
  return int64(f.lo, f.hi);
}

export function asFloat(f: Field, what: string): number {
  expectWire(f, WIRE_I32, what);
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

/**
 * A repeated varint field arrives packed (one WIRE_LEN payload) or one value per field; both are
 * legal. Appends the signed int64 values to `out`, at most `max` of them in total.
 */
export function pushVarints(f: Field, out: number[], max: number, what: string): void {
  if (f.wire === WIRE_VARINT) {
    out.push(int64(f.lo, f.hi));
  } else {
    expectWire(f, WIRE_LEN, what);
    const b = f.bytes;
    let pos = 0;
    while (pos < b.length) {
      const [lo, hi, next] = readVarint(b, pos);
      out.push(int64(lo, hi));
      pos = next;
      if (out.length > max) break;
    }
  }
  if (out.length > max) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `ONNX protobuf: ${what} has more than ${max} values`);
  }
}

// ---- writer ---------------------------------------------------------------------------------------

/** Builds one message: fields are appended in call order; nested messages are finished writers. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  private size = 0;

  private flushScratch(): void {
    if (this.scratch.length) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.size += this.scratch.length;
      this.scratch = [];
    }
  }

  private rawVarint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`ProtoWriter: ${v} is not a safe integer`);
    if (v < 0) {
      // Two's complement over 64 bits: ten bytes, as protobuf encodes negative int64.
      let lo = v % 0x1_0000_0000;
      let hi = Math.floor(v / 0x1_0000_0000);
      lo = lo >>> 0;
      hi = hi >>> 0;
      for (let i = 0; i < 9; i++) {
        this.scratch.push((lo & 0x7f) | 0x80);
        lo = (lo >>> 7) | ((hi & 0x7f) << 25);
        hi = hi >>> 7;
      }
      this.scratch.push(lo & 0x01);
      return;
    }
    while (v >= 0x80) {
      this.scratch.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.scratch.push(v);
  }

  private tag(no: number, wire: number): void {
    this.rawVarint(no * 8 + wire);
  }

  int(no: number, v: number): this {
    this.tag(no, WIRE_VARINT);
    this.rawVarint(v);
    return this;
  }

  float(no: number, v: number): this {
    this.tag(no, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(no: number, payload: Uint8Array): this {
    this.tag(no, WIRE_LEN);
    this.rawVarint(payload.length);
    this.flushScratch();
    this.chunks.push(payload);
    this.size += payload.length;
    return this;
  }

  string(no: number, s: string): this {
    return this.bytes(no, new TextEncoder().encode(s));
  }

  message(no: number, m: ProtoWriter): this {
    return this.bytes(no, m.finish());
  }

  /** Packed repeated int64 (e.g. dims, ints). */
  packedInts(no: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.bytes(no, inner.finish());
  }

  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
