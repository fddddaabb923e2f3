/**
 * Param set → ONNX model, by interpreting the architecture's declarative layer list, so a new
 * architecture built from the known layers needs no new code here. Two layouts (see layout.ts):
 *
 * - 'standard' (default): the form torch.onnx.export gives — input `input` [N, C, H, W], OIHW conv
 *   weights, [out, in] dense weights with Gemm transB = 1, CHW flatten, names `conv1.weight` … —
 *   so third-party tools load it as they load a PyTorch export (writeStandard.ts).
 * - 'nhwc': input [N, H, W, C] and the param set's own tensors and names (writeNhwc.ts).
 *
 * Both return `logits` [N, classes] and carry their layout and architecture in metadata_props, so for
 * a registered architecture readOnnx(writeOnnx(set, arch, { layout })) gives back `set` exactly in
 * either layout: the standard file holds every watermarked value, moved by an exact permutation.
 */
import type { Architecture } from '../../core/architectures.js';
import { activationShapes, paramSpecs } from '../../core/architectures.js';
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';
import { GraphBuilder } from './graph.js';
import { META_ARCH, META_LAYOUT, type OnnxLayout } from './layout.js';
import { emitNhwcGraph } from './writeNhwc.js';
import { emitStandardGraph } from './writeStandard.js';

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'logits';

export interface WriteOnnxOptions {
  /** 'standard' (NCHW, PyTorch layout and names; the default) or 'nhwc' (our canonical layout). */
  readonly layout?: OnnxLayout;
}

const DOC: Record<OnnxLayout, string> = {
  standard: 'weightmark export, standard layout: input NCHW; conv weights OIHW; dense weights [out, in] (Gemm transB=1), flatten in CHW order; names <layer>.weight / <layer>.bias.',
  nhwc: 'weightmark export, NHWC layout: input NHWC; conv kernels HWIO (Transpose node to OIHW); dense kernels [in, out], flatten in HWC order; names <layer>/kernel / <layer>/bias.',
};

/** The input shape the graph of `layout` takes, batch axis first. */
export function onnxInputShape(arch: Architecture, layout: OnnxLayout = 'standard'): ['N', number, number, number] {
  const [h, w, c] = arch.inputShape;
  return layout === 'standard' ? ['N', c, h, w] : ['N', h, w, c];
}

/**
 * Exports a param set of an architecture as an ONNX model (IR 8, opset 13) that onnxruntime runs.
 * @throws Error when the param set lacks a tensor of the architecture or a shape differs from the
 * architecture's.
 */
export function writeOnnx(set: ParamSet, arch: Architecture, opts: WriteOnnxOptions = {}): Uint8Array {
  const layout = opts.layout ?? 'standard';
  const params = new Map<string, ParamTensor>();
  for (const spec of paramSpecs(arch)) {
    const t = set.tensors.find((x) => x.name === spec.name);
    if (!t) throw new Error(`writeOnnx: the param set has no tensor '${spec.name}' required by '${arch.name}'`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new Error(`writeOnnx: tensor '${spec.name}' has shape [${t.shape.join(', ')}]; '${arch.name}' needs [${spec.shape.join(', ')}]`);
    }
    params.set(spec.name, t);
  }
  const g = new GraphBuilder(arch.name);
  const input = g.input(ONNX_INPUT, onnxInputShape(arch, layout));
  const logits = layout === 'standard' ? emitStandardGraph(g, arch, input, params) : emitNhwcGraph(g, arch, input, params);
  g.node('Identity', [logits], {}, ONNX_OUTPUT);
  const shapes = activationShapes(arch);
  g.output(ONNX_OUTPUT, ['N', ...(shapes[shapes.length - 1] ?? [arch.classes])]);
  return g.finish('weightmark', '0.1.0', { docString: DOC[layout], metadata: { [META_LAYOUT]: layout, [META_ARCH]: arch.name } });
}
