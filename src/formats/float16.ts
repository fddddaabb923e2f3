/**
 * IEEE 754 half (binary16) and bfloat16 conversions, shared by every reader that meets 16-bit floats
 * (safetensors F16/BF16, NumPy '<f2', ONNX FLOAT16/BFLOAT16, tfjs float16 quantization).
 * NaN and ±Inf are carried through, subnormals are exact; float32ToHalf rounds to nearest even.
 */

const HALF_TABLE = buildHalfTable();

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac === 0 ? Infinity : NaN;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
}

/** Converts IEEE half-precision bit patterns to float32 values (exact; NaN/Inf preserved). */
export function halfToFloat32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const t = HALF_TABLE;
  for (let i = 0; i < u16.length; i++) out[i] = t[u16[i]!]!;
  return out;
}

/** Converts bfloat16 bit patterns (the top 16 bits of a float32) to float32 values (exact). */
export function bfloat16ToFloat32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16;
  return out;
}

/** Converts float32 values to IEEE half bit patterns, rounding to nearest even; overflow → ±Inf. */
export function float32ToHalf(f32: Float32Array): Uint16Array {
  const out = new Uint16Array(f32.length);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let i = 0; i < f32.length; i++) {
    f[0] = f32[i]!;
    const x = bits[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) {
      h = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
    } else {
      const e = exp - 127 + 15;
      if (e >= 31) {
        h = sign | 0x7c00;
      } else if (e <= 0) {
        if (e < -10) {
          h = sign;
        } else {
          const m = mant | 0x800000;
          const shift = 14 - e;
          let hm = m >>> shift;
          const rem = m & ((1 << shift) - 1);
          const half = 1 << (shift - 1);
          if (rem > half || (rem === half && hm & 1)) hm++;
          h = sign | hm;
        }
      } else {
        let hv = (e << 10) | (mant >>> 13);
        const rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem === 0x1000 && hv & 1)) hv++;
        h = sign | hv;
      }
    }
    out[i] = h;
  }
  return out;
}

/** Converts float32 values to bfloat16 bit patterns, rounding to nearest even (NaN kept quiet). */
export function float32ToBfloat16(f32: Float32Array): Uint16Array {
  const out = new Uint16Array(f32.length);
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  for (let i = 0; i < f32.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
