/**
 * A strict, in-memory zip reader for .npz: it trusts nothing it has not bounded. Entries are listed
 * from the central directory (zip64 records understood), each entry's local header is checked against
 * the file, sizes are checked against the limits BEFORE anything is inflated, and inflating is capped at
 * the declared size so a lying entry (a zip bomb) stops at the cap. Only stored (0) and deflate (8)
 * entries, unencrypted, are supported. Written here rather than taken from a library because the
 * libraries either stream from disk asynchronously (yauzl) or inflate before the caller can bound the
 * result (fflate/jszip); this one is ~200 lines and every bound is visible.
 */
import * as zlib from 'node:zlib';
import { FormatError } from './errors.js';
import type { ReadLimits, ZipEntry } from './types.js';

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

export function sniffZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) return false;
  return (bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6);
}

/**
 * Lists the file entries of a zip held in memory (directories are skipped).
 * @throws FormatError TRUNCATED, MALFORMED, UNSUPPORTED (encrypted, other compression), TOO_LARGE
 * (entry count, name length, declared uncompressed sizes beyond maxInflatedBytes).
 */
export function listZipEntries(bytes: Uint8Array, limits: ReadLimits): ZipEntry[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const eocd = findEocd(bytes, dv);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc >= 0 && dv.getUint32(loc, true) === EOCD64_LOCATOR_SIG) {
      const e64 = safeU64(dv, loc + 8, 'zip64 end record offset');
      if (e64 + 56 > bytes.length || dv.getUint32(e64, true) !== EOCD64_SIG) {
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: zip64 end record expected at ${e64} is missing`);
      }
      count = safeU64(dv, e64 + 32, 'zip64 entry count');
      cdSize = safeU64(dv, e64 + 40, 'zip64 central directory size');
      cdOffset = safeU64(dv, e64 + 48, 'zip64 central directory offset');
    }
  }
  if (count > limits.maxZipEntries) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `zip: ${count} entries; at most ${limits.maxZipEntries} are accepted`);
  }
  if (cdOffset + cdSize > bytes.length) {
    throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `zip: central directory [${cdOffset}, ${cdOffset + cdSize}) lies beyond the file's ${bytes.length} bytes`);
  }
  const entries: ZipEntry[] = [];
  let declaredTotal = 0;
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== CEN_SIG) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: central directory entry ${k} of ${count} is missing or damaged at offset ${p}`);
    }
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let uncompressedSize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const next = p + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `zip: central directory entry ${k} runs beyond the directory`);
    if (nameLen > limits.maxNameLength) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `zip: entry ${k} has a ${nameLen}-byte name; at most ${limits.maxNameLength} are accepted`);
    }
    const name = decodeName(bytes.subarray(p + 46, p + 46 + nameLen), (flags & 0x800) !== 0);
    // zip64 extended information: present fields follow the order usize, csize, offset.
    if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      const z = findExtra(dv, p + 46 + nameLen, extraLen, 0x0001);
      if (z === undefined) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: entry '${name}' needs a zip64 extra field and has none`);
      let q = z.start;
      const take = (what: string): number => {
        if (q + 8 > z.end) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: entry '${name}' zip64 extra field lacks the ${what}`);
        const v = safeU64(dv, q, `${what} of '${name}'`);
        q += 8;
        return v;
      };
      if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
      if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
      if (localOffset === 0xffffffff) localOffset = take('local header offset');
    }
    p = next;
    if (name.endsWith('/')) continue;
    if (flags & 0x1) throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `zip: entry '${name}' is encrypted; encrypted archives are not supported`);
    if (method !== 0 && method !== 8) {
      throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `zip: entry '${name}' uses compression method ${method}. Supported methods are 0 (stored) and 8 (deflate).`);
    }
    if (method === 0 && compressedSize !== uncompressedSize) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: stored entry '${name}' declares ${compressedSize} bytes stored but ${uncompressedSize} uncompressed`);
    }
    declaredTotal += uncompressedSize;
    if (declaredTotal > limits.maxInflatedBytes) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `zip: entries declare more than ${limits.maxInflatedBytes} uncompressed bytes (at '${name}'), the limit`);
    }
    if (localOffset + 30 > bytes.length || dv.getUint32(localOffset, true) !== LOC_SIG) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: local header of '${name}' expected at ${localOffset} is missing`);
    }
    const dataOffset = localOffset + 30 + dv.getUint16(localOffset + 26, true) + dv.getUint16(localOffset + 28, true);
    if (dataOffset + compressedSize > bytes.length) {
      throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `zip: data of '${name}' [${dataOffset}, ${dataOffset + compressedSize}) runs beyond the file's ${bytes.length} bytes`);
    }
    entries.push({ name, method, compressedSize, uncompressedSize, crc32: crc, dataOffset });
  }
  return entries;
}

/**
 * The uncompressed bytes of one entry: a view on `bytes` when stored, else inflated with the output
 * capped at the declared size and its CRC-32 checked.
 * @throws FormatError MALFORMED (bad deflate stream, size or CRC mismatch), TOO_LARGE (inflates past its
 * declared size).
 */
export function readZipEntry(bytes: Uint8Array, e: ZipEntry): Uint8Array {
  const raw = bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
  let out: Uint8Array;
  if (e.method === 0) {
    out = raw;
  } else {
    try {
      // One byte more than declared, so that an entry inflating past its declared size is caught.
      out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize + 1) });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `zip: entry '${e.name}' inflates past its declared ${e.uncompressedSize} bytes`);
      }
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: entry '${e.name}' is not a valid deflate stream (${(err as Error).message})`);
    }
    if (out.length !== e.uncompressedSize) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: entry '${e.name}' inflates to ${out.length} bytes but declares ${e.uncompressedSize}`);
    }
  }
  // CRC-32 guards against accidental damage, not tampering (anyone can recompute it). For a stored entry
  // it would be the only pass over the data (the tensors are views), so it is checked for deflated
  // entries only, where inflating already touches every byte.
  if (e.method === 8 && crc32(out) !== e.crc32) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `zip: entry '${e.name}' fails its CRC-32 check`);
  }
  return out;
}

function findEocd(bytes: Uint8Array, dv: DataView): number {
  if (bytes.length < 22) throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `zip: ${bytes.length} bytes is too short for a zip archive`);
  const stop = Math.max(0, bytes.length - 22 - 0xffff);
  for (let i = bytes.length - 22; i >= stop; i--) {
    if (bytes[i] === 0x50 && dv.getUint32(i, true) === EOCD_SIG && i + 22 + dv.getUint16(i + 20, true) === bytes.length) return i;
  }
  throw new FormatError('WM_ERR_FORMAT_TRUNCATED', 'zip: end of central directory record not found (the archive is truncated or not a zip)');
}

function findExtra(dv: DataView, start: number, len: number, id: number): { start: number; end: number } | undefined {
  let q = start;
  const end = start + len;
  while (q + 4 <= end) {
    const hid = dv.getUint16(q, true);
    const size = dv.getUint16(q + 2, true);
    if (q + 4 + size > end) return undefined;
    if (hid === id) return { start: q + 4, end: q + 4 + size };
    q += 4 + size;
  }
  return undefined;
}

function safeU64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `zip: ${what} ${v} is beyond any supported size`);
  return Number(v);
}

function decodeName(b: Uint8Array, utf8: boolean): string {
  if (utf8) return new TextDecoder('utf-8').decode(b);
  let s = '';
  for (const c of b) s += String.fromCharCode(c); // CP437 is close enough for names we only compare
  return s;
}

// ---- writing (stored entries only; used for .npz output and tests) --------------------------------

/** Writes a zip of stored (uncompressed) entries; entry data starts 64-byte aligned where possible. */
export function writeZipStored(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    // Pad with an extra field so that the data begins at a multiple of 64 (zero-copy reads).
    const base = offset + 30 + name.length;
    const pad = ((64 - ((base + 4) % 64)) % 64);
    const extraLen = 4 + pad;
    const loc = new Uint8Array(30 + name.length + extraLen);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, LOC_SIG, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, 0x800, true);
    lv.setUint16(8, 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, f.data.length, true);
    lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extraLen, true);
    loc.set(name, 30);
    lv.setUint16(30 + name.length, 0xcafe, true); // private padding extra field
    lv.setUint16(30 + name.length + 2, pad, true);
    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, CEN_SIG, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x800, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, f.data.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cen.set(name, 46);
    parts.push(loc, f.data);
    central.push(cen);
    offset += loc.length + f.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** zlib.crc32 where Node has it (20.15+), a table-driven fallback otherwise. */
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  return typeof native === 'function' ? native(data) >>> 0 : crc32js(data);
}

let CRC_TABLE: Uint32Array | undefined;
function crc32js(data: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
