/**
 * The standard graph (`format=onnx`, the default), as torch.onnx.export writes the same network: input
 * `input` [N, C, H, W]; Conv with OIHW weight initializers (no Transpose on weights); BatchNormalization
 * with PyTorch's four tensors; MaxPool; Add; Flatten of the NCHW activation (CHW order, as
 * torch.flatten); GlobalAveragePool; Gemm with weight [out, in] and transB = 1 (as nn.Linear); dropout
 * is the identity at inference and writes nothing. ResNet's option-A shortcut is what PyTorch's
 * `F.pad(x[:, :, ::s, ::s], …)` exports to: a strided Slice and a channel Pad. The values come from the
 * canonical param set through layout.ts (exact permutations).
 */
import { activationShapes, layerInputs, type Architecture, type Layer } from '../../core/architectures.js';
import type { ParamTensor } from '../../core/paramSet.js';
import { GraphBuilder } from './graph.js';
import { standardSpecs, toStandard, type StandardSpec } from './layout.js';
import { activation, convAttributes, poolAttributes } from './writeNhwc.js';

/** The canonical tensors, and the standard spec of each, by canonical name. */
interface Sources {
  readonly params: ReadonlyMap<string, ParamTensor>;
  readonly specs: ReadonlyMap<string, StandardSpec>;
}

function tensor(g: GraphBuilder, src: Sources, canonicalName: string): string {
  const s = src.specs.get(canonicalName)!;
  return g.initializer(s.name, s.shape, toStandard(src.params.get(canonicalName)!.data, s));
}

/** A value and whether it is still an NCHW map or already [N, features]. */
interface Cursor {
  readonly value: string;
  readonly flat: boolean;
}

/** `inChannels`: channels of the layer's (first) input, for the shortcut's padding. */
function emit(g: GraphBuilder, layer: Layer, ins: readonly Cursor[], inChannels: number, src: Sources): Cursor {
  const at = ins[0]!;
  const map = (what: string): string => {
    if (at.flat) throw new Error(`writeOnnx: ${what} follows a flatten`);
    return at.value;
  };
  switch (layer.type) {
    case 'conv2d': {
      const weights = [tensor(g, src, `${layer.name}/kernel`), ...(layer.useBias === false ? [] : [tensor(g, src, `${layer.name}/bias`)])];
      const y = g.node('Conv', [map(`convolution '${layer.name}'`), ...weights], convAttributes(layer), g.fresh(layer.name));
      return { value: activation(g, y, layer.activation), flat: false };
    }
    case 'batchNorm': {
      const names = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((r) => tensor(g, src, `${layer.name}/${r}`));
      // Over a flat [N, C] input BatchNormalization normalises axis 1 just the same.
      const y = g.node('BatchNormalization', [at.value, ...names], { epsilon: { float: layer.epsilon }, momentum: { float: layer.momentum } }, g.fresh(layer.name));
      return { value: activation(g, y, layer.activation), flat: at.flat };
    }
    case 'maxPool':
      return { value: g.node('MaxPool', [map('a pooling layer')], poolAttributes(layer)), flat: false };
    case 'avgPool':
      return { value: g.node('AveragePool', [map('a pooling layer')], poolAttributes(layer)), flat: false };
    case 'flatten':
      return at.flat ? at : { value: g.node('Flatten', [at.value], { axis: 1 }), flat: true };
    case 'dense': {
      if (!at.flat) throw new Error(`writeOnnx: dense layer '${layer.name}' needs a flatten or a global pool before it`);
      const y = g.node('Gemm', [at.value, tensor(g, src, `${layer.name}/kernel`), tensor(g, src, `${layer.name}/bias`)], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, g.fresh(layer.name));
      return { value: activation(g, y, layer.activation), flat: true };
    }
    case 'add': {
      const y = g.node('Add', [at.value, ins[1]!.value], {}, g.fresh(layer.name));
      return { value: activation(g, y, layer.activation), flat: at.flat };
    }
    case 'shortcut': {
      let y = map(`shortcut '${layer.name}'`);
      if (layer.stride > 1) {
        const s = layer.stride;
        y = g.node('Slice', [y, g.int64Initializer('starts', [0, 0]), g.int64Initializer('ends', [2 ** 31 - 1, 2 ** 31 - 1]), g.int64Initializer('axes', [2, 3]), g.int64Initializer('steps', [s, s])]);
      }
      // Channels zero-padded ⌊pad/2⌋ in front and the rest behind; pads are [begins…, ends…] over N, C, H, W.
      const front = Math.floor((layer.filters - inChannels) / 2);
      const pads = [0, front, 0, 0, 0, layer.filters - inChannels - front, 0, 0];
      return { value: g.node('Pad', [y, g.int64Initializer('pads', pads)], { mode: 'constant' }, g.fresh(layer.name)), flat: false };
    }
    case 'globalAvgPool':
      return { value: g.node('Flatten', [g.node('GlobalAveragePool', [map('a global pool')])], { axis: 1 }), flat: true };
    case 'dropout':
      return at;
  }
}

/** Emits the layers from graph input `input` (NCHW); returns the value holding the logits. */
export function emitStandardGraph(g: GraphBuilder, arch: Architecture, input: string, params: ReadonlyMap<string, ParamTensor>): string {
  const specs = new Map(standardSpecs(arch).map((s) => [s.canonical.name, s] as const));
  const inputs = layerInputs(arch);
  const shapes = activationShapes(arch);
  const out: Cursor[] = [];
  arch.layers.forEach((layer, i) => {
    const ins = inputs[i]!.map((j) => (j < 0 ? { value: input, flat: false } : out[j]!));
    const first = inputs[i]![0]!;
    const inShape = first < 0 ? arch.inputShape : shapes[first]!;
    out[i] = emit(g, layer, ins, inShape[inShape.length - 1]!, { params, specs });
  });
  return out[out.length - 1]!.value;
}
