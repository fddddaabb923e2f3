/**
 * The two tensor layouts of our ONNX exports, and the exact conversion between them.
 *
 * - 'standard' (the default of `format=onnx`): what torch.onnx.export writes for the same network, so
 *   that onnx, onnxruntime and PyTorch users load it without knowing us. Input NCHW; conv kernels
 *   OIHW; dense weights [out, in] (Gemm transB = 1); the first dense layer after a conv stack reads
 *   the flatten of an NCHW activation, so its weight's input axis runs in CHW order; names `conv1.weight`,
 *   `conv1.bias`, `fc1.weight`, `stage1.block1.bn1.running_mean`, … (as a PyTorch state_dict).
 * - 'nhwc' (`format=onnx-nhwc`): our canonical param set as it is (HWIO, [in, out], HWC flatten,
 *   `conv1/kernel`), input NHWC.
 *
 * Both conversions are permutations of the same float bits, so a standard export read back gives the
 * param set exactly. The writer stamps its layout and architecture in ModelProto.metadata_props; the
 * reader uses them to return our own standard exports in canonical layout (a file stripped of them
 * reads as stored and alignment maps it like any PyTorch export).
 */
import { activationShapes, architectureNames, getArchitecture, layerInputs, paramSpecs, type Architecture, type ParamSpec } from '../../core/architectures.js';
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';

export type OnnxLayout = 'standard' | 'nhwc';
export const ONNX_LAYOUTS: readonly OnnxLayout[] = ['standard', 'nhwc'];

/** metadata_props keys the writer sets. */
export const META_LAYOUT = 'weightmark.layout';
export const META_ARCH = 'weightmark.arch';

/** One parameter tensor of an architecture, as the standard export stores it. */
export interface StandardSpec {
  /** The tensor in our canonical layout. */
  readonly canonical: ParamSpec;
  /** `conv1.weight`, `fc1.bias`, … */
  readonly name: string;
  readonly shape: readonly number[];
  /** Activation [H, W, C] flattened into this dense kernel's input, when it has spatial extent. */
  readonly flattenFrom?: readonly [number, number, number];
}

/** What a PyTorch state_dict calls each role: nn.Conv2d / nn.Linear weight and bias, nn.BatchNorm2d's four. */
const TORCH_SUFFIX: Record<ParamSpec['role'], string> = {
  kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', movingMean: 'running_mean', movingVariance: 'running_var',
};

/**
 * The standard name, shape and flatten source of each parameter of `arch`, in paramSpecs order. Layer
 * names become module paths (`stage1/block1/conv1` → `stage1.block1.conv1.weight`).
 */
export function standardSpecs(arch: Architecture): StandardSpec[] {
  const shapes = activationShapes(arch);
  const inputs = layerInputs(arch);
  const flattenFrom = new Map<string, readonly [number, number, number]>();
  arch.layers.forEach((layer, i) => {
    if (layer.type !== 'dense') return;
    // Dropouts between the flatten and the dense layer act per element: they do not reorder it.
    let j = inputs[i]![0]!;
    while (j >= 0 && arch.layers[j]!.type === 'dropout') j = inputs[j]![0]!;
    if (j < 0 || arch.layers[j]!.type !== 'flatten') return;
    const k = inputs[j]![0]!;
    const before = k >= 0 ? shapes[k]! : [...arch.inputShape];
    if (before.length === 3) flattenFrom.set(layer.name, before as [number, number, number]);
  });
  return paramSpecs(arch).map((spec) => {
    const name = `${spec.layer.replaceAll('/', '.')}.${TORCH_SUFFIX[spec.role]}`;
    if (spec.shape.length === 1) return { canonical: spec, name, shape: [...spec.shape] };
    if (spec.shape.length === 4) {
      const [h, w, i, o] = spec.shape as [number, number, number, number];
      return { canonical: spec, name, shape: [o, i, h, w] };
    }
    const [inputs, units] = spec.shape as [number, number];
    const from = flattenFrom.get(spec.layer);
    return { canonical: spec, name, shape: [units, inputs], ...(from ? { flattenFrom: from } : {}) };
  });
}

/**
 * Moves values between the layouts: standard flat index j holds canonical flat index k. One loop nest
 * serves both directions, so they cannot disagree; it runs on the float bits (Uint32 views), so NaN
 * payloads and -0 survive.
 */
function permute(data: Float32Array, s: StandardSpec, toStandard: boolean): Float32Array {
  const out = new Float32Array(data.length);
  if (s.canonical.shape.length === 1) {
    out.set(data);
    return out;
  }
  const src = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const dst = new Uint32Array(out.buffer);
  const shape = s.canonical.shape;
  if (shape.length === 4) {
    // OIHW [o][i][h][w] ⇄ HWIO [h][w][i][o]
    const [kh, kw, ci, co] = shape as [number, number, number, number];
    let j = 0;
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++, j++) {
      const k = ((h * kw + w) * ci + i) * co + o;
      if (toStandard) dst[j] = src[k]!;
      else dst[k] = src[j]!;
    }
    return out;
  }
  // [out][c·S + p] ⇄ [p·C + c][out]: CHW input columns against HWC input rows (a plain transpose without a flatten).
  const [inputs, units] = shape as [number, number];
  const [fh, fw, fc] = s.flattenFrom ?? [1, 1, inputs];
  const spatial = fh * fw;
  for (let o = 0; o < units; o++) {
    for (let c = 0; c < fc; c++) {
      for (let p = 0; p < spatial; p++) {
        const j = o * inputs + c * spatial + p;
        const k = (p * fc + c) * units + o;
        if (toStandard) dst[j] = src[k]!;
        else dst[k] = src[j]!;
      }
    }
  }
  return out;
}

/** A canonical tensor's values in the standard layout of `s` (a new array). */
export function toStandard(data: Float32Array, s: StandardSpec): Float32Array {
  return permute(data, s, true);
}

/** A standard tensor's values in our canonical layout (a new array): the inverse of toStandard. */
export function fromStandard(data: Float32Array, s: StandardSpec): Float32Array {
  return permute(data, s, false);
}

/**
 * Our own export, recognised by its metadata, as the canonical param set of its architecture; or
 * undefined when the metadata is absent or names no registered architecture, or when the tensors are
 * not exactly that architecture's in the stated layout (then the caller keeps them as stored, and
 * alignment maps them like any foreign file — nothing is refused on the metadata's word).
 */
export function ownExportAsCanonical(tensors: readonly ParamTensor[], metadata: ReadonlyMap<string, string>): ParamSet | undefined {
  const layout = metadata.get(META_LAYOUT);
  const archName = metadata.get(META_ARCH);
  if (!archName || !architectureNames().includes(archName) || !ONNX_LAYOUTS.includes(layout as OnnxLayout)) return undefined;
  return asCanonical(tensors, getArchitecture(archName), layout as OnnxLayout);
}

/**
 * Tensors that are exactly `arch`'s parameters in `layout` ('standard': a PyTorch state_dict's names
 * and layouts, as torch.onnx.export or safetensors/npz from PyTorch hold them) as the canonical param
 * set; undefined when any tensor is missing, extra or of another shape.
 */
export function asCanonical(all: readonly ParamTensor[], arch: Architecture, layout: OnnxLayout): ParamSet | undefined {
  // PyTorch's batch norms also count their training steps (`<bn>.num_batches_tracked`): bookkeeping, not a parameter of ours.
  const tensors = layout === 'standard' ? all.filter((t) => !t.name.endsWith('.num_batches_tracked')) : all;
  const byName = new Map(tensors.map((t) => [t.name, t] as const));
  const specs = standardSpecs(arch);
  if (tensors.length !== specs.length || byName.size !== specs.length) return undefined;
  const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  const out: ParamTensor[] = [];
  for (const s of specs) {
    const stored = layout === 'standard' ? { name: s.name, shape: s.shape } : s.canonical;
    const t = byName.get(stored.name);
    if (!t || !sameShape(t.shape, stored.shape)) return undefined;
    const data = layout === 'standard' ? fromStandard(t.data, s) : t.data;
    out.push({ name: s.canonical.name, shape: [...s.canonical.shape], data });
  }
  return { arch: arch.name, tensors: out };
}
