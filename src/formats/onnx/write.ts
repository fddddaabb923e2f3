/**
 * Param set → ONNX model, by interpreting the architecture's declarative layer list: one emitter per
 * layer type, so a new architecture built from these layers needs no new code here.
 *
 * The graph takes `input` [N, H, W, C] float (our canonical NHWC) and returns `logits` [N, classes].
 * Convolutions and pooling run in NCHW (ONNX's layout): a Transpose goes in before the first of them
 * and a Transpose back to NHWC before Flatten, so the flattened order is HWC and our dense kernels
 * apply unchanged (Gemm with B = kernel [in, out]).
 *
 * Initializers are the param set itself: same names (`conv1/kernel`), same values, same layouts. Conv
 * kernels are stored HWIO and turned into OIHW by a Transpose node that onnxruntime folds into a
 * constant when the session is created. So readOnnx(writeOnnx(set)) gives back `set` exactly, and a
 * released ONNX file carries the watermarked tensors as our key addresses them.
 */
import type { Architecture, Conv2dLayer, DenseLayer, Layer, MaxPoolLayer } from '../../core/architectures.js';
import { activationShapes, paramSpecs } from '../../core/architectures.js';
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';
import { GraphBuilder, type AttributeValue } from './graph.js';

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'logits';

/** Where the running value is, and in which layout. */
interface Cursor {
  readonly value: string;
  readonly layout: 'nhwc' | 'nchw' | 'flat';
}

interface Emit<L extends Layer> {
  (g: GraphBuilder, layer: L, at: Cursor, params: ReadonlyMap<string, ParamTensor>): Cursor;
}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
const HWIO_TO_OIHW = [3, 2, 0, 1];

function nchw(g: GraphBuilder, at: Cursor): string {
  if (at.layout === 'nchw') return at.value;
  if (at.layout === 'flat') throw new Error('writeOnnx: a spatial layer follows a flatten');
  return g.node('Transpose', [at.value], { perm: TO_NCHW }, g.fresh('nchw'));
}

function activation(g: GraphBuilder, value: string, kind: 'relu' | 'none'): string {
  return kind === 'relu' ? g.node('Relu', [value]) : value;
}

const emitConv2d: Emit<Conv2dLayer> = (g, layer, at, params) => {
  const x = nchw(g, at);
  const kernel = g.initializer(...tensorArgs(params, `${layer.name}/kernel`));
  const bias = g.initializer(...tensorArgs(params, `${layer.name}/bias`));
  const oihw = g.node('Transpose', [kernel], { perm: HWIO_TO_OIHW }, g.fresh(`${layer.name}/kernel_oihw`));
  const padding: Record<string, AttributeValue> = layer.padding === 'same' ? { auto_pad: 'SAME_UPPER' } : { pads: [0, 0, 0, 0] };
  const y = g.node('Conv', [x, oihw, bias], {
    kernel_shape: [layer.kernel, layer.kernel], strides: [layer.stride, layer.stride], ...padding,
  }, g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'nchw' };
};

const emitMaxPool: Emit<MaxPoolLayer> = (g, layer, at) => {
  const x = nchw(g, at);
  const y = g.node('MaxPool', [x], { kernel_shape: [layer.size, layer.size], strides: [layer.size, layer.size] });
  return { value: y, layout: 'nchw' };
};

const emitFlatten: Emit<Layer> = (g, _layer, at) => {
  if (at.layout === 'flat') return at;
  const x = at.layout === 'nchw' ? g.node('Transpose', [at.value], { perm: TO_NHWC }, g.fresh('nhwc')) : at.value;
  return { value: g.node('Flatten', [x], { axis: 1 }), layout: 'flat' };
};

const emitDense: Emit<DenseLayer> = (g, layer, at, params) => {
  if (at.layout !== 'flat') throw new Error(`writeOnnx: dense layer '${layer.name}' needs a flatten before it`);
  const kernel = g.initializer(...tensorArgs(params, `${layer.name}/kernel`));
  const bias = g.initializer(...tensorArgs(params, `${layer.name}/bias`));
  const y = g.node('Gemm', [at.value, kernel, bias], {}, g.fresh(layer.name));
  return { value: activation(g, y, layer.activation), layout: 'flat' };
};

function emit(g: GraphBuilder, layer: Layer, at: Cursor, params: ReadonlyMap<string, ParamTensor>): Cursor {
  switch (layer.type) {
    case 'conv2d': return emitConv2d(g, layer, at, params);
    case 'maxPool': return emitMaxPool(g, layer, at, params);
    case 'flatten': return emitFlatten(g, layer, at, params);
    case 'dense': return emitDense(g, layer, at, params);
  }
}

function tensorArgs(params: ReadonlyMap<string, ParamTensor>, name: string): [string, readonly number[], Float32Array] {
  const t = params.get(name)!;
  return [t.name, t.shape, t.data];
}

/**
 * Exports a param set of a registered architecture as an ONNX model (IR 8, opset 13) that
 * onnxruntime runs. @throws Error when the param set lacks a tensor of the architecture or a shape
 * differs from the architecture's.
 */
export function writeOnnx(set: ParamSet, arch: Architecture): Uint8Array {
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
  let at: Cursor = { value: g.input(ONNX_INPUT, ['N', ...arch.inputShape]), layout: 'nhwc' };
  for (const layer of arch.layers) at = emit(g, layer, at, params);
  g.node('Identity', [at.value], {}, ONNX_OUTPUT);
  const shapes = activationShapes(arch);
  g.output(ONNX_OUTPUT, ['N', ...(shapes[shapes.length - 1] ?? [arch.classes])]);
  return g.finish('weightmark', '0.1.0');
}
