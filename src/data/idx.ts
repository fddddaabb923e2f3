import { gunzipSync } from 'node:zlib';

/** An IDX array (LeCun's MNIST format): unsigned bytes with their dimensions. */
export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

export const sniffGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** True when the bytes start like an IDX file of unsigned bytes (gzip-compressed files cannot be told before inflating). */
export const sniffIdx = (bytes: Uint8Array): boolean => bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0x08 && bytes[3]! >= 1 && bytes[3]! <= 4;

/**
 * Parses an IDX file (plain or gzip-compressed) of unsigned bytes, checking the magic number and that
 * the file holds exactly the bytes its dimensions announce. Untrusted gzip files are inflated by the
 * caller with a cap (datasetIdx.ts): this inflates whatever it is given.
 * @throws Error saying what was found and what was expected.
 */
export function parseIdx(bytes: Uint8Array, what = 'IDX file'): IdxArray {
  if (sniffGzip(bytes)) bytes = gunzipSync(bytes);
  if (bytes.length < 4) throw new Error(`${what}: ${bytes.length} bytes is too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${what}: bad magic number (first bytes ${bytes[0]}, ${bytes[1]}; expected 0, 0)`);
  if (bytes[2] !== 0x08) throw new Error(`${what}: element type 0x${bytes[2]!.toString(16)} is not supported; supported: 0x08 (unsigned byte)`);
  const rank = bytes[3]!;
  if (rank < 1 || rank > 4) throw new Error(`${what}: rank ${rank} is not supported (1 to 4)`);
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) throw new Error(`${what}: truncated header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength !== expected) {
    throw new Error(`${what}: dimensions [${dims.join(', ')}] need ${expected} bytes of data, the file has ${bytes.length - headerLength}`);
  }
  return { dims, data: bytes.subarray(headerLength) };
}
