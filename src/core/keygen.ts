import type { ParamSet } from './paramSet.js';
import { sizeOf } from './paramSet.js';
import { SeededRng } from './rng.js';
import type { KeyValueKind, WatermarkKey } from './watermarkKey.js';
import { defaults } from './config.js';
import { keyableTensors } from './architectures.js';

/** A tensor a key may mark, with the scale its values should match. */
export interface KeyTarget {
  readonly name: string;
  readonly shape: readonly number[];
  /** Standard deviation the marked values should have (the tensor's own weight scale). */
  readonly scale: number;
}

export interface KeyOptions {
  readonly seed: string | Uint8Array;
  readonly n?: number;
  readonly valueKind?: KeyValueKind;
  readonly id?: string;
  readonly arch?: string;
  /** For 'uniform': values uniform in ±amplitude. */
  readonly amplitude?: number;
  /** For 'image': grey pixels 0..255, row-major; n becomes width*height. */
  readonly image?: { readonly width: number; readonly height: number; readonly pixels: Uint8Array };
  /** For 'message': its UTF-8 bits become the signs of the values; n becomes 8 × bytes. */
  readonly message?: string;
  /** Keys whose positions this key must not reuse (a licensee's key next to the owner's). */
  readonly avoid?: readonly WatermarkKey[];
}

/**
 * Scale of each tensor: its own std; for a tensor with no spread (biases at init are zero) the std of
 * the kernel of the same layer, so the marked biases look like plausible weights of that layer.
 */
export function keyTargetsFromParamSet(set: ParamSet): KeyTarget[] {
  const tensors = keyableTensors(set.arch, set.tensors);
  const stds = tensors.map((t) => std(t.data));
  return tensors.map((t, i) => {
    let scale = stds[i]!;
    if (!(scale > 0)) {
      const prefix = t.name.includes('/') ? t.name.slice(0, t.name.lastIndexOf('/')) : t.name;
      const sibling = tensors.findIndex((u, j) => j !== i && u.name.startsWith(prefix) && stds[j]! > 0);
      scale = sibling >= 0 ? stds[sibling]! : 0.05;
    }
    return { name: t.name, shape: [...t.shape], scale };
  });
}

function std(a: Float32Array): number {
  if (a.length < 2) return 0;
  let s = 0;
  for (const v of a) s += v;
  const mean = s / a.length;
  let q = 0;
  for (const v of a) q += (v - mean) * (v - mean);
  return Math.sqrt(q / a.length);
}

/**
 * Splits n positions over the tensors in proportion to their sizes (largest remainder), giving every
 * tensor at least one position when n allows, so that every layer — the output layer included — is marked.
 */
export function allocatePositions(sizes: readonly number[], n: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (n > total) throw new Error(`A key of ${n} positions does not fit in ${total} parameters`);
  const alloc = sizes.map(() => 0);
  let left = n;
  if (n >= sizes.length) {
    sizes.forEach((s, i) => {
      if (s > 0) {
        alloc[i] = 1;
        left--;
      }
    });
  }
  const quotas = sizes.map((s) => (s * left) / total);
  const base = quotas.map((q, i) => Math.min(Math.floor(q), sizes[i]! - alloc[i]!));
  base.forEach((b, i) => (alloc[i]! += b));
  left -= base.reduce((a, b) => a + b, 0);
  const order = quotas.map((q, i) => ({ i, frac: q - Math.floor(q) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  while (left > 0) {
    let progressed = false;
    for (const { i } of order) {
      if (left === 0) break;
      if (alloc[i]! < sizes[i]!) {
        alloc[i]!++;
        left--;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return alloc;
}

/**
 * k distinct integers from [0, size) outside `taken`, by rejection: keys are sparse (n ≪ size), so few
 * draws are wasted.
 */
export function distinctIndices(rng: SeededRng, size: number, k: number, taken: ReadonlySet<number>): number[] {
  if (k + taken.size > size) throw new Error(`Cannot place ${k} positions in a tensor of ${size} with ${taken.size} already taken`);
  const chosen = new Set<number>();
  if (k > (size - taken.size) / 2) {
    // Dense case (tiny tensors such as the output bias): shuffle the free indices instead.
    const free: number[] = [];
    for (let i = 0; i < size; i++) if (!taken.has(i)) free.push(i);
    for (let i = 0; i < k; i++) {
      const j = i + rng.nextInt(free.length - i);
      [free[i], free[j]] = [free[j]!, free[i]!];
      chosen.add(free[i]!);
    }
  } else {
    while (chosen.size < k) {
      const t = rng.nextInt(size);
      if (!taken.has(t)) chosen.add(t);
    }
  }
  return [...chosen].sort((a, b) => a - b);
}

export function takenPositions(avoid: readonly WatermarkKey[] | undefined, name: string): Set<number> {
  const taken = new Set<number>();
  for (const k of avoid ?? []) {
    const t = k.tensors.findIndex((x) => x.name === name);
    if (t < 0) continue;
    k.tensorIndex.forEach((ti, i) => {
      if (ti === t) taken.add(k.flatIndex[i]!);
    });
  }
  return taken;
}

/**
 * Generates a watermark key: n distinct positions across all target tensors in proportion to their
 * size, and a value at each. Same seed and targets give the same key.
 * @throws Error when n does not fit, or the image/message options are inconsistent.
 */
export function generateKey(targets: readonly KeyTarget[], opts: KeyOptions): WatermarkKey {
  const valueKind = opts.valueKind ?? (opts.image ? 'image' : opts.message !== undefined ? 'message' : defaults.key.valueKind);
  let n = opts.n ?? defaults.key.n;
  let messageBits: number[] | undefined;
  if (valueKind === 'image') {
    if (!opts.image) throw new Error("valueKind 'image' needs an image");
    const { width, height, pixels } = opts.image;
    if (pixels.length !== width * height) throw new Error(`Image of ${width}x${height} needs ${width * height} pixels, got ${pixels.length}`);
    n = width * height;
  } else if (valueKind === 'message') {
    if (!opts.message) throw new Error("valueKind 'message' needs a non-empty message");
    const bytes = new TextEncoder().encode(opts.message);
    messageBits = [];
    for (const b of bytes) for (let k = 7; k >= 0; k--) messageBits.push((b >> k) & 1);
    n = messageBits.length;
  }
  if (!Number.isInteger(n) || n < 2) throw new Error(`A key needs an integer n ≥ 2 positions, got ${n}`);
  const rng = new SeededRng(opts.seed);
  const sizes = targets.map((t) => sizeOf(t.shape));
  const alloc = allocatePositions(sizes, n);

  const tensorIndex: number[] = [];
  const flatIndex: number[] = [];
  targets.forEach((target, ti) => {
    for (const idx of distinctIndices(rng, sizes[ti]!, alloc[ti]!, takenPositions(opts.avoid, target.name))) {
      tensorIndex.push(ti);
      flatIndex.push(idx);
    }
  });
  // Shuffle the order so that the i-th image pixel or message bit does not sit in a predictable tensor.
  const order = tensorIndex.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const ti = order.map((i) => tensorIndex[i]!);
  const fi = order.map((i) => flatIndex[i]!);

  const values = ti.map((t, i) => {
    const scale = targets[t]!.scale;
    switch (valueKind) {
      case 'uniform': {
        const a = opts.amplitude ?? 2 * scale;
        return Math.fround((rng.nextFloat() * 2 - 1) * a);
      }
      case 'image': {
        // Pixels map linearly to ±2 scale: dark is negative, light positive; the picture comes back as a picture.
        const p = opts.image!.pixels[i]!;
        return Math.fround(((p / 255) * 2 - 1) * 2 * scale);
      }
      case 'message': {
        const mag = Math.abs(rng.nextGaussian()) * scale + 0.25 * scale;
        return Math.fround(messageBits![i] ? mag : -mag);
      }
      default:
        return Math.fround(rng.nextGaussian() * scale);
    }
  });

  return {
    format: 'weightmark-key',
    version: 1,
    id: opts.id ?? `key-${new SeededRng(opts.seed, 'weightmark/key-id/v1').nextUint32().toString(16).padStart(8, '0')}`,
    ...(opts.arch !== undefined ? { arch: opts.arch } : {}),
    valueKind,
    tensors: targets.map((t) => ({ name: t.name, shape: [...t.shape] })),
    tensorIndex: ti,
    flatIndex: fi,
    values,
    ...(valueKind === 'image' ? { image: { width: opts.image!.width, height: opts.image!.height, amplitudes: targets.map((t) => 2 * t.scale) } } : {}),
    ...(valueKind === 'message' ? { message: opts.message! } : {}),
  };
}

/** Decodes the message a 'message' key carries from extracted values (signs → bits → UTF-8). */
export function decodeMessage(extracted: ArrayLike<number>): string {
  const bytes = new Uint8Array(Math.floor(extracted.length / 8));
  for (let i = 0; i < bytes.length; i++) {
    let b = 0;
    for (let k = 0; k < 8; k++) b = (b << 1) | (extracted[i * 8 + k]! > 0 ? 1 : 0);
    bytes[i] = b;
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

const kinds: readonly KeyValueKind[] = ['scale-matched', 'uniform', 'image', 'message', 'distribution-matched'];

/**
 * Validates a key read from JSON.
 * @throws Error saying which field is wrong and what is expected.
 */
export function parseKey(json: unknown): WatermarkKey {
  const fail = (what: string): never => {
    throw new Error(`Invalid watermark key: ${what}`);
  };
  if (typeof json !== 'object' || json === null) fail('expected a JSON object');
  const k = json as Record<string, unknown>;
  if (k.format !== 'weightmark-key') fail(`format must be 'weightmark-key', found ${JSON.stringify(k.format)}`);
  if (k.version !== 1 && k.version !== 2) fail(`unsupported version ${JSON.stringify(k.version)}; supported versions are: 1, 2`);
  if (typeof k.id !== 'string' || k.id.length === 0) fail('id must be a non-empty string');
  if (!kinds.includes(k.valueKind as KeyValueKind)) fail(`valueKind must be one of ${kinds.join(', ')}`);
  if (!Array.isArray(k.tensors) || k.tensors.length === 0) fail('tensors must be a non-empty array');
  const tensors = k.tensors as unknown[];
  const sizes = tensors.map((t, i) => {
    const tt = t as { name?: unknown; shape?: unknown };
    if (typeof tt?.name !== 'string') fail(`tensors[${i}].name must be a string`);
    if (!Array.isArray(tt.shape) || !tt.shape.every((d) => Number.isInteger(d) && d > 0)) fail(`tensors[${i}].shape must be positive integers`);
    return sizeOf(tt.shape as number[]);
  });
  const arrays = ['tensorIndex', 'flatIndex', 'values'] as const;
  for (const a of arrays) if (!Array.isArray(k[a])) fail(`${a} must be an array`);
  const ti = k.tensorIndex as unknown[];
  const fi = k.flatIndex as unknown[];
  const vals = k.values as unknown[];
  if (ti.length !== fi.length || ti.length !== vals.length) fail('tensorIndex, flatIndex and values must have the same length');
  if (ti.length < 2) fail('a key needs at least 2 positions');
  const image = k.image as { amplitudes?: unknown } | undefined;
  if (image?.amplitudes !== undefined) {
    const amp = image.amplitudes;
    if (!Array.isArray(amp) || amp.length !== tensors.length || !amp.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      fail('image.amplitudes must hold one positive number per tensor');
    }
  }
  if (k.layers !== undefined && (!Array.isArray(k.layers) || k.layers.length !== tensors.length || !k.layers.every((l) => typeof l === 'string' && l.length > 0))) {
    fail('layers must hold one non-empty string per tensor');
  }
  if (k.signal !== undefined) {
    if (k.version !== 2) fail('signal needs version 2');
    if (!Array.isArray(k.signal) || k.signal.length !== ti.length || !k.signal.every((x) => typeof x === 'number' && Number.isFinite(x))) fail('signal must hold one finite number per position');
  }
  if (k.commitment !== undefined && (typeof k.commitment !== 'string' || !/^[0-9a-f]{64}$/.test(k.commitment))) fail('commitment must be a sha256 digest (64 lowercase hex digits)');
  const seen = new Set<string>();
  for (let i = 0; i < ti.length; i++) {
    const t = ti[i];
    const f = fi[i];
    if (!Number.isInteger(t) || (t as number) < 0 || (t as number) >= tensors.length) fail(`tensorIndex[${i}] out of range`);
    if (!Number.isInteger(f) || (f as number) < 0 || (f as number) >= sizes[t as number]!) fail(`flatIndex[${i}] out of range for its tensor`);
    if (typeof vals[i] !== 'number' || !Number.isFinite(vals[i])) fail(`values[${i}] must be a finite number`);
    const id = `${t}:${f}`;
    if (seen.has(id)) fail(`position ${id} appears twice`);
    seen.add(id);
  }
  return json as WatermarkKey;
}

export function serializeKey(key: WatermarkKey): string {
  return JSON.stringify(key);
}
