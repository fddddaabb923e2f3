/**
 * Format sniffing by content only (magic bytes and structure, never the file name). Each test is cheap
 * and bounded: it looks at a fixed-size prefix, or for ONNX walks at most 256 top-level protobuf fields.
 * A file that starts like a format but is cut short still sniffs as that format, so that its reader can
 * say "truncated" rather than "unknown format".
 */
import { sniffNpy } from './npy.js';
import { sniffPt } from './pt.js';
import { sniffZip } from './zip.js';
import { sniffSafetensors } from './safetensors.js';
import { sniffTfjs } from './tfjs.js';
import type { ModelFormat } from './types.js';

/** ModelProto field number → wire type (0 varint, 2 length-delimited). */
const MODEL_PROTO_FIELDS = new Map<number, number>([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2], [26, 2],
]);

/**
 * True when the bytes start as an ONNX ModelProto: every top-level field walked is a known ModelProto
 * field with its wire type, at least two are seen (or the file ends cleanly after one), and ir_version
 * (1) or graph (7) is among them. A length running past the end stops the walk (truncated file).
 */
export function sniffOnnx(bytes: Uint8Array): boolean {
  let pos = 0;
  let seen = 0;
  let key = false;
  while (pos < bytes.length && seen < 256) {
    const tag = varint(bytes, pos);
    if (!tag) return false;
    const [t, afterTag] = tag;
    const field = Math.floor(t / 8);
    const wire = t % 8;
    if (MODEL_PROTO_FIELDS.get(field) !== wire) return false;
    if (field === 1 || field === 7) key = true;
    seen++;
    if (wire === 0) {
      const v = varint(bytes, afterTag);
      if (!v) return key && seen >= 2;
      pos = v[1];
    } else {
      const len = varint(bytes, afterTag);
      if (!len) return key && seen >= 2;
      pos = len[1] + len[0];
      if (pos > bytes.length) return key;
    }
  }
  return key && (seen >= 2 || pos === bytes.length);
}

function varint(b: Uint8Array, pos: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) return undefined;
    const byte = b[pos + i]!;
    v += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return [v, pos + i + 1];
  }
  return undefined;
}

/** The format the bytes are in, or undefined. Checked in order of how distinctive the magic is. */
export function sniffFormat(bytes: Uint8Array): ModelFormat | undefined {
  if (sniffNpy(bytes)) return 'npy';
  if (sniffZip(bytes)) return sniffPt(bytes) ? 'pt' : 'npz';
  if (sniffSafetensors(bytes)) return 'safetensors';
  if (sniffPt(bytes)) return 'pt'; // a bare pickle: the pt reader refuses it by name
  if (sniffTfjs(bytes)) return 'tfjs';
  if (sniffOnnx(bytes)) return 'onnx';
  return undefined;
}

/** A short hex rendering of the first bytes, for "unknown format" messages. */
export function firstBytes(bytes: Uint8Array, n = 8): string {
  return [...bytes.subarray(0, n)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}
