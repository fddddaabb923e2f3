/**
 * The standard graph (`format=onnx`, the default), as torch.onnx.export writes the same network: input
 * `input` [N, C, H, W]; Conv with OIHW weight initializers (no Transpose on weights); MaxPool; Flatten
 * of the NCHW activation (CHW order, as torch.flatten); Gemm with weight [out, in] and transB = 1 (as
 * nn.Linear). The values come from the canonical param set through layout.ts (exact permutations).
 */
import { chainLayers, type Architecture, type ChainLayer, type Conv2dLayer, type DenseLayer } from '../../core/architectures.js';
import type { ParamTensor } from '../../core/paramSet.js';
import { GraphBuilder } from './graph.js';
import { standardSpecs, toStandard, type StandardSpec } from './layout.js';
import { activation, convAttributes, poolAttributes } from './writeNhwc.js';

/** Where the running value is: an NCHW activation or a flat [N, features] one. */
interface Cursor {
  readonly value: string;
  readonly layout: 'nchw' | 'flat';
}

/** The canonical tensors, and the standard spec of each, by canonical name. */
interface Sources {
  readonly params: ReadonlyMap<string, ParamTensor>;
  readonly specs: ReadonlyMap<string, StandardSpec>;
}

function tensor(g: GraphBuilder, src: Sources, canonicalName: string): string {
  const s = src.specs.get(canonicalName)!;
  return g.initializer(s.name, s.shape, toStandard(src.params.get(canonicalName)!.data, s));
}

function conv2d(g: GraphBuilder, layer: Conv2dLayer, at: Cursor, src: Sources): Cursor {
  if (at.layout !== 'nchw') throw new Error(`writeOnnx: convolution '${layer.name}' follows a flatten`);
  const weight = tensor(g, src, `${layer.name}/kernel`);
  const bias = tensor(g, src, `${layer.name}/bias`);
  const y = g.node('Conv', [at.value, weight, bias], convAttributes(layer), g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'nchw' };
}

function dense(g: GraphBuilder, layer: DenseLayer, at: Cursor, src: Sources): Cursor {
  if (at.layout !== 'flat') throw new Error(`writeOnnx: dense layer '${layer.name}' needs a flatten before it`);
  const weight = tensor(g, src, `${layer.name}/kernel`);
  const bias = tensor(g, src, `${layer.name}/bias`);
  const y = g.node('Gemm', [at.value, weight, bias], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'flat' };
}

function emit(g: GraphBuilder, layer: ChainLayer, at: Cursor, src: Sources): Cursor {
  switch (layer.type) {
    case 'conv2d': return conv2d(g, layer, at, src);
    case 'maxPool':
      if (at.layout !== 'nchw') throw new Error('writeOnnx: a pooling layer follows a flatten');
      return { value: g.node('MaxPool', [at.value], poolAttributes(layer)), layout: 'nchw' };
    case 'flatten':
      return at.layout === 'flat' ? at : { value: g.node('Flatten', [at.value], { axis: 1 }), layout: 'flat' };
    case 'dense': return dense(g, layer, at, src);
  }
}

/** Emits the layers from graph input `input` (NCHW); returns the value holding the logits. */
export function emitStandardGraph(g: GraphBuilder, arch: Architecture, input: string, params: ReadonlyMap<string, ParamTensor>): string {
  const specs = new Map(standardSpecs(arch).map((s) => [s.canonical.name, s] as const));
  let at: Cursor = { value: input, layout: 'nchw' };
  for (const layer of chainLayers(arch, 'The ONNX writer')) at = emit(g, layer, at, { params, specs });
  return at.value;
}
