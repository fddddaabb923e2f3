/**
 * The NHWC graph (`format=onnx-nhwc`), one emitter per layer type: the graph takes `input` [N, H, W, C]
 * float (our canonical NHWC). Convolutions and pooling run in NCHW (ONNX's layout): a Transpose goes in
 * before the first of them and a Transpose back to NHWC before Flatten, so the flattened order is HWC
 * and our dense kernels apply unchanged (Gemm with B = kernel [in, out]).
 *
 * Initializers are the param set itself: same names (`conv1/kernel`), same values, same layouts. Conv
 * kernels are stored HWIO and turned into OIHW by a Transpose node that onnxruntime folds into a
 * constant when the session is created.
 */
import { chainLayers, type Architecture, type ChainLayer, type Conv2dLayer, type DenseLayer, type MaxPoolLayer, type AvgPoolLayer } from '../../core/architectures.js';
import type { ParamTensor } from '../../core/paramSet.js';
import { GraphBuilder, type AttributeValue } from './graph.js';

/** Where the running value is, and in which layout. */
interface Cursor {
  readonly value: string;
  readonly layout: 'nhwc' | 'nchw' | 'flat';
}

type Params = ReadonlyMap<string, ParamTensor>;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const HWIO_TO_OIHW = [3, 2, 0, 1];

function nchw(g: GraphBuilder, at: Cursor): string {
  if (at.layout === 'nchw') return at.value;
  if (at.layout === 'flat') throw new Error('writeOnnx: a spatial layer follows a flatten');
  return g.node('Transpose', [at.value], { perm: TO_NCHW }, g.fresh('nchw'));
}

export function activation(g: GraphBuilder, value: string, kind: 'relu' | 'none'): string {
  return kind === 'relu' ? g.node('Relu', [value]) : value;
}

/** Conv attributes shared by both graphs: TensorFlow's 'same' pads the extra row/column at the end. */
export function convAttributes(layer: Conv2dLayer): Record<string, AttributeValue> {
  const pad = typeof layer.padding === 'number' ? layer.padding : 0;
  const padding: Record<string, AttributeValue> = layer.padding === 'same' ? { auto_pad: 'SAME_UPPER' } : { pads: [pad, pad, pad, pad] };
  return { kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], ...padding };
}

export function poolAttributes(layer: MaxPoolLayer | AvgPoolLayer): Record<string, AttributeValue> {
  return { kernel_shape: [layer.size, layer.size], strides: [layer.size, layer.size] };
}

function tensor(g: GraphBuilder, params: Params, name: string): string {
  const t = params.get(name)!;
  return g.initializer(t.name, t.shape, t.data);
}

function conv2d(g: GraphBuilder, layer: Conv2dLayer, at: Cursor, params: Params): Cursor {
  const x = nchw(g, at);
  const kernel = tensor(g, params, `${layer.name}/kernel`);
  const bias = tensor(g, params, `${layer.name}/bias`);
  const oihw = g.node('Transpose', [kernel], { perm: HWIO_TO_OIHW }, g.fresh(`${layer.name}/kernel_oihw`));
  const y = g.node('Conv', [x, oihw, bias], convAttributes(layer), g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'nchw' };
}

function flatten(g: GraphBuilder, at: Cursor): Cursor {
  if (at.layout === 'flat') return at;
  const x = at.layout === 'nchw' ? g.node('Transpose', [at.value], { perm: TO_NHWC }, g.fresh('nhwc')) : at.value;
  return { value: g.node('Flatten', [x], { axis: 1 }), layout: 'flat' };
}

function dense(g: GraphBuilder, layer: DenseLayer, at: Cursor, params: Params): Cursor {
  if (at.layout !== 'flat') throw new Error(`writeOnnx: dense layer '${layer.name}' needs a flatten before it`);
  const kernel = tensor(g, params, `${layer.name}/kernel`);
  const bias = tensor(g, params, `${layer.name}/bias`);
  const y = g.node('Gemm', [at.value, kernel, bias], {}, g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'flat' };
}

function emit(g: GraphBuilder, layer: ChainLayer, at: Cursor, params: Params): Cursor {
  switch (layer.type) {
    case 'conv2d': return conv2d(g, layer, at, params);
    case 'maxPool': return { value: g.node('MaxPool', [nchw(g, at)], poolAttributes(layer)), layout: 'nchw' };
    case 'avgPool': return { value: g.node('AveragePool', [nchw(g, at)], poolAttributes(layer)), layout: 'nchw' };
    case 'flatten': return flatten(g, at);
    case 'dense': return dense(g, layer, at, params);
  }
}

/** Emits the layers from graph input `input` (NHWC); returns the value holding the logits. */
export function emitNhwcGraph(g: GraphBuilder, arch: Architecture, input: string, params: Params): string {
  let at: Cursor = { value: input, layout: 'nhwc' };
  for (const layer of chainLayers(arch, 'The NHWC ONNX writer')) at = emit(g, layer, at, params);
  return at.value;
}
