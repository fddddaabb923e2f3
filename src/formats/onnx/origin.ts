/**
 * The origin map of an imported network: for every canonical tensor (`conv1/kernel`, HWIO) the
 * original tensor it came from (an ONNX initializer or PyTorch state_dict name, e.g. `block.0.weight`)
 * and the exact layout change between them, so that whatever we write back has the licensor's names
 * and layouts. Every change is a permutation of the float bits (layout.ts's loops), so canonical →
 * original → canonical is the identity.
 */
import type { ParamSpec } from '../../core/architectures.js';
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';
import { FormatError } from '../errors.js';
import { fromStandard, toStandard, type StandardSpec } from './layout.js';

/**
 * - `same`: one-dimensional tensors (biases, batch-norm vectors), stored as they are;
 * - `oihw`: a Conv weight [out, in, kh, kw] (ours HWIO);
 * - `outIn`: a Gemm weight with transB = 1 (nn.Linear's [out, in]);
 * - `inOut`: a MatMul weight, or Gemm with transB = 0: [in, out] as ours.
 * A dense weight after a flatten of an [h, w, c] map also has its input rows in CHW order (ours: HWC).
 */
export type OriginLayout = 'same' | 'oihw' | 'outIn' | 'inOut';

export interface OriginTensor {
  readonly canonical: string;
  readonly original: string;
  /** The shape as stored in the original. */
  readonly shape: readonly number[];
  readonly layout: OriginLayout;
  /** The [h, w, c] map flattened into this dense weight, when it had spatial extent. */
  readonly flattenFrom?: readonly [number, number, number];
}

/** JSON-safe: kept in the model's record beside its architecture. */
export interface OriginMap {
  readonly tensors: readonly OriginTensor[];
  /**
   * PyTorch's batch-norm step counters (`bn1.num_batches_tracked`) of an uploaded state_dict: not
   * parameters of ours, written back as they came so the licensee's checkpoint stays complete.
   */
  readonly counters?: readonly { readonly name: string; readonly value: number }[];
}

/** The layout.ts spec that performs `o`'s permutation (an `inOut` weight is that of `outIn`, transposed). */
function standardSpec(o: OriginTensor, canonicalShape: readonly number[]): StandardSpec {
  const canonical = { name: o.canonical, shape: canonicalShape } as ParamSpec;
  const shape = o.layout === 'inOut' ? [o.shape[1]!, o.shape[0]!] : o.shape;
  return { canonical, name: o.original, shape, ...(o.flattenFrom ? { flattenFrom: o.flattenFrom } : {}) };
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const src = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Float32Array(data.length);
  const dst = new Uint32Array(out.buffer);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c]!;
  return out;
}

/** The canonical shape of an original tensor of `o`. */
export function canonicalShape(o: OriginTensor): number[] {
  const s = o.shape;
  if (o.layout === 'oihw') return [s[2]!, s[3]!, s[1]!, s[0]!];
  if (o.layout === 'outIn') return [s[1]!, s[0]!];
  return [...s];
}

/** An original tensor's values in canonical layout (a new array). */
export function toCanonical(data: Float32Array, o: OriginTensor): Float32Array {
  if (o.layout === 'same') return new Float32Array(data);
  if (o.layout === 'inOut' && !o.flattenFrom) return new Float32Array(data);
  const spec = standardSpec(o, canonicalShape(o));
  return fromStandard(o.layout === 'inOut' ? transpose(data, o.shape[0]!, o.shape[1]!) : data, spec);
}

/** A canonical tensor's values in the original's layout (a new array): the inverse of toCanonical. */
export function toOriginal(data: Float32Array, o: OriginTensor): Float32Array {
  if (o.layout === 'same') return new Float32Array(data);
  if (o.layout === 'inOut' && !o.flattenFrom) return new Float32Array(data);
  const standard = toStandard(data, standardSpec(o, canonicalShape(o)));
  return o.layout === 'inOut' ? transpose(standard, o.shape[1]!, o.shape[0]!) : standard;
}

/** The canonical param set in the original names, shapes and layouts, in the origin map's order. */
export function originalTensors(params: ParamSet, origin: OriginMap): ParamTensor[] {
  const byName = new Map(params.tensors.map((t) => [t.name, t] as const));
  return origin.tensors.map((o) => {
    const t = byName.get(o.canonical);
    if (!t) throw new Error(`originalTensors: the param set has no tensor '${o.canonical}' (original '${o.original}')`);
    return { name: o.original, shape: [...o.shape], data: toOriginal(t.data, o) };
  });
}

/**
 * Tensors under the original names (an upload of the imported network, or its release in any of our
 * formats) as the canonical param set; undefined when a tensor of the map is missing or has another
 * shape. Tensors the map does not name (num_batches_tracked, …) are ignored.
 */
export function fromOriginal(tensors: readonly ParamTensor[], origin: OriginMap, arch?: string): ParamSet | undefined {
  const byName = new Map(tensors.map((t) => [t.name, t] as const));
  const out: ParamTensor[] = [];
  for (const o of origin.tensors) {
    const t = byName.get(o.original);
    if (!t || t.shape.length !== o.shape.length || t.shape.some((d, i) => d !== o.shape[i])) return undefined;
    out.push({ name: o.canonical, shape: canonicalShape(o), data: toCanonical(t.data, o) });
  }
  return { ...(arch !== undefined ? { arch } : {}), tensors: out };
}

/**
 * Like fromOriginal, but says what does not fit.
 * @throws FormatError WM_ERR_FORMAT_UNSUPPORTED naming the first missing or misshapen tensor.
 */
export function requireFromOriginal(tensors: readonly ParamTensor[], origin: OriginMap, what: string, hint: string): ParamSet {
  const byName = new Map(tensors.map((t) => [t.name, t] as const));
  for (const o of origin.tensors) {
    const t = byName.get(o.original);
    if (!t) throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${what} has no tensor '${o.original}', which the graph's ${o.canonical.split('/')[0]} reads (${origin.tensors.length} expected; it holds ${tensors.slice(0, 5).map((x) => `'${x.name}'`).join(', ')}${tensors.length > 5 ? ', …' : ''}). ${hint}`);
    if (t.shape.join() !== o.shape.join()) throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `${what}: tensor '${o.original}' has shape [${t.shape.join(', ')}]; the graph needs [${o.shape.join(', ')}]. ${hint}`);
  }
  return fromOriginal(tensors, origin)!;
}
