/**
 * The architecture registry, declared as data: one layer list serves the TensorFlow.js forward pass,
 * the ONNX exporter, the PyTorch fixture script, alignment and the function-preserving attacks, so they
 * cannot disagree about shapes, names or which layer feeds which.
 *
 * Canonical layout (the param set's): NHWC activations, conv kernels HWIO, dense kernels [in, out],
 * flatten in HWC order. Parameter names are `<layer>/kernel` and `<layer>/bias`.
 */
import { canonicalJson } from './canonicalJson.js';

export type Activation = 'relu' | 'none';
/** 'same' and 'valid' as TensorFlow computes them; a number is PyTorch's symmetric explicit padding. */
export type Padding = 'valid' | 'same' | number;

/**
 * Every layer may name the layers it reads (`inputs`; 'input' is the network's input); without
 * `inputs` it reads the layer listed before it, so a chain needs no wiring. Layers are listed in an
 * order where every input comes first (a topological order), which is also the order of the params.
 */
interface Wired {
  readonly inputs?: readonly string[];
}
export interface Conv2dLayer extends Wired {
  readonly type: 'conv2d';
  readonly name: string;
  readonly filters: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: Padding;
  readonly activation: Activation;
  /** Default true; a conv followed by batch norm has none (the norm's shift replaces it). */
  readonly useBias?: boolean;
}
export interface MaxPoolLayer extends Wired {
  readonly type: 'maxPool';
  readonly name?: string;
  readonly size: number;
}
/** Average pooling with window = stride = size ('valid': trailing rows and columns that fill no window are dropped). */
export interface AvgPoolLayer extends Wired {
  readonly type: 'avgPool';
  readonly name?: string;
  readonly size: number;
}
export interface FlattenLayer extends Wired {
  readonly type: 'flatten';
  readonly name?: string;
}
export interface DenseLayer extends Wired {
  readonly type: 'dense';
  readonly name: string;
  readonly units: number;
  readonly activation: Activation;
}
/** Batch norm over the channels (last axis), learned scale and shift, running statistics for evaluation. */
export interface BatchNormLayer extends Wired {
  readonly type: 'batchNorm';
  readonly name: string;
  readonly epsilon: number;
  /** Weight of the old running statistic per step (Keras' convention; PyTorch's momentum 0.1 is 0.9 here). */
  readonly momentum: number;
  readonly activation: Activation;
}
/** Elementwise sum of two inputs of one shape (a residual connection), then the activation. */
export interface AddLayer extends Wired {
  readonly type: 'add';
  readonly name: string;
  readonly inputs: readonly [string, string];
  readonly activation: Activation;
}
/**
 * ResNet's option-A shortcut (He et al. 2016, CIFAR): every `stride`-th pixel from the first, channels
 * zero-padded to `filters`, ⌊pad/2⌋ in front and the rest behind (as the PyTorch twin's F.pad). No parameters.
 */
export interface ShortcutLayer extends Wired {
  readonly type: 'shortcut';
  readonly name: string;
  readonly stride: number;
  readonly filters: number;
}
export interface GlobalAvgPoolLayer extends Wired {
  readonly type: 'globalAvgPool';
  readonly name?: string;
}
/** Inverted dropout in training (kept activations scaled by 1/(1-rate)); the identity in evaluation. */
export interface DropoutLayer extends Wired {
  readonly type: 'dropout';
  readonly name?: string;
  readonly rate: number;
}
export type Layer = Conv2dLayer | MaxPoolLayer | AvgPoolLayer | FlattenLayer | DenseLayer | BatchNormLayer | AddLayer | ShortcutLayer | GlobalAvgPoolLayer | DropoutLayer;
export type ParamLayer = Conv2dLayer | DenseLayer | BatchNormLayer;
/** The layers a plain chain of conv/pool/dense uses: what the function-preserving attacks and the NHWC ONNX writer understand. */
export type ChainLayer = Conv2dLayer | MaxPoolLayer | AvgPoolLayer | FlattenLayer | DenseLayer;

export interface Architecture {
  readonly name: string;
  readonly description: string;
  /** [height, width, channels] of one input sample. */
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  readonly layers: readonly Layer[];
  /**
   * Initial weights (src/core/init.ts): PyTorch's default scale unless 'he' (normal, std √(2/fanIn),
   * zero biases), which a deep plain ReLU stack without batch norm needs for its signal to reach the logits.
   */
  readonly init?: 'he';
}

export type ParamRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'movingMean' | 'movingVariance';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** The layer the tensor belongs to, and its part. */
  readonly layer: string;
  readonly role: ParamRole;
  /** Inputs feeding one output unit: sets the initial weight scale. */
  readonly fanIn: number;
  readonly fanOut: number;
  /** False for batch norm's running statistics: state the forward pass updates, not the optimiser. */
  readonly trainable: boolean;
  /** Conv and dense kernels and biases carry key positions; batch norm's tensors do not (deployment folds them away). */
  readonly keyable: boolean;
}

const lenet5: Architecture = {
  name: 'lenet5',
  description: 'LeNet5, Caffe variant as in the paper: conv 20@5x5, pool 2, conv 50@5x5, pool 2, dense 500, dense 10 (431,080 parameters)',
  inputShape: [28, 28, 1],
  classes: 10,
  layers: [
    { type: 'conv2d', name: 'conv1', filters: 20, kernel: 5, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'conv2d', name: 'conv2', filters: 50, kernel: 5, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 500, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 10, activation: 'none' },
  ],
};

const mlp: Architecture = {
  name: 'mlp',
  description: 'LeNet-300-100: dense 300, dense 100, dense 10 on flattened 28x28 images (266,610 parameters)',
  inputShape: [28, 28, 1],
  classes: 10,
  layers: [
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 300, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 100, activation: 'relu' },
    { type: 'dense', name: 'fc3', units: 10, activation: 'none' },
  ],
};

/** Springenberg et al. 2015, model C, as the anchor's PyTorch twin (../shared/anchors/torch_cifar.py) builds it but for conv9's ReLU. */
const allcnnc: Architecture = (() => {
  const conv = (name: string, filters: number, kernel: number, stride: number, activation: Activation = 'relu'): Conv2dLayer =>
    ({ type: 'conv2d', name, filters, kernel, stride, padding: (kernel - 1) / 2, activation });
  return {
    name: 'allcnnc',
    description: 'ALL-CNN-C (Springenberg et al. 2015): dropout 0.2, 3x3 conv 96-96-96/2, dropout 0.5, 3x3 conv 192-192-192/2, dropout 0.5, 3x3 conv 192, 1x1 conv 192, 1x1 conv 10 (no ReLU: logits), global average pool (1,369,738 parameters)',
    inputShape: [32, 32, 3],
    classes: 10,
    // PyTorch's default scale shrinks the signal ~2.5x per layer here (logits' std 0.04 at initialisation)
    // and the loss did not leave ln 10 in pilots (docs/architectures.md, "Choices").
    init: 'he',
    layers: [
      { type: 'dropout', rate: 0.2 },
      conv('conv1', 96, 3, 1), conv('conv2', 96, 3, 1), conv('conv3', 96, 3, 2),
      { type: 'dropout', rate: 0.5 },
      conv('conv4', 192, 3, 1), conv('conv5', 192, 3, 1), conv('conv6', 192, 3, 2),
      { type: 'dropout', rate: 0.5 },
      conv('conv7', 192, 3, 1), conv('conv8', 192, 1, 1),
      // Springenberg's table puts a ReLU here too; with it, SGD pushed all ten class maps below zero in
      // the first epoch and the loss froze at ln 10, He init or not (docs/architectures.md, "Choices").
      conv('conv9', 10, 1, 1, 'none'),
      { type: 'globalAvgPool' },
    ],
  };
})();

/**
 * He et al. 2016's CIFAR ResNet with n = 5 (6n + 2 = 32 layers): 16-32-64 channels, basic blocks of
 * two 3x3 conv + batch norm, option-A shortcuts (parameter-free: subsample and zero-pad the channels),
 * so that the PyTorch twin and the parameter count (464,154) match the anchor's.
 */
const resnet32: Architecture = (() => {
  const bn = (name: string, activation: Activation, inputs?: readonly string[]): BatchNormLayer =>
    ({ type: 'batchNorm', name, epsilon: 1e-5, momentum: 0.9, activation, ...(inputs ? { inputs } : {}) });
  const conv = (name: string, filters: number, stride: number, inputs?: readonly string[]): Conv2dLayer =>
    ({ type: 'conv2d', name, filters, kernel: 3, stride, padding: 1, activation: 'none', useBias: false, ...(inputs ? { inputs } : {}) });
  const layers: Layer[] = [conv('conv1', 16, 1), bn('bn1', 'relu')];
  let stream = 'bn1';
  let channels = 16;
  [16, 32, 64].forEach((filters, s) => {
    for (let b = 1; b <= 5; b++) {
      const at = `stage${s + 1}/block${b}`;
      const stride = s > 0 && b === 1 ? 2 : 1;
      layers.push(conv(`${at}/conv1`, filters, stride, [stream]), bn(`${at}/bn1`, 'relu'), conv(`${at}/conv2`, filters, 1), bn(`${at}/bn2`, 'none'));
      let shortcut = stream;
      if (stride !== 1 || filters !== channels) {
        layers.push({ type: 'shortcut', name: `${at}/shortcut`, stride, filters, inputs: [stream] });
        shortcut = `${at}/shortcut`;
      }
      layers.push({ type: 'add', name: `${at}/add`, inputs: [`${at}/bn2`, shortcut], activation: 'relu' });
      stream = `${at}/add`;
      channels = filters;
    }
  });
  layers.push({ type: 'globalAvgPool', inputs: [stream] }, { type: 'dense', name: 'fc', units: 10, activation: 'none' });
  return {
    name: 'resnet32',
    description: 'ResNet-32 for CIFAR (He et al. 2016): 3x3 conv 16 + BN, 3 stages x 5 basic blocks of 16/32/64 channels, option-A shortcuts, global average pool, dense 10 (464,154 parameters)',
    inputShape: [32, 32, 3],
    classes: 10,
    layers,
  };
})();

const registry = new Map<string, Architecture>([lenet5, mlp, allcnnc, resnet32].map((a) => [a.name, a]));

/**
 * Architectures imported from a licensor's ONNX graph (formats/onnx/importGraph.ts), registered by the
 * process that meets them (a model record's meta, a task or verification group that carries one), so
 * that code resolving an architecture by name finds them. Their names are content-addressed (a hash
 * of the architecture), so registering is idempotent and a name can never come to mean another
 * network: a different architecture under a known name is refused.
 */
const imported = new Map<string, Architecture>();

/** The built-in registry's names (imported architectures are per model, not offered for training from scratch). */
export function architectureNames(): string[] {
  return [...registry.keys()];
}

/**
 * Makes an imported architecture resolvable by name in this process.
 * @throws Error when the name is a built-in one, or already registered for a different architecture.
 */
export function registerArchitecture(arch: Architecture): void {
  if (registry.has(arch.name)) throw new Error(`registerArchitecture: '${arch.name}' is a built-in architecture`);
  const known = imported.get(arch.name);
  // Compared as canonical JSON: an architecture read back from a store may list its keys in another order.
  if (known && canonicalJson(known) !== canonicalJson(arch)) throw new Error(`registerArchitecture: '${arch.name}' is already registered as another architecture`);
  if (!known) imported.set(arch.name, arch);
}

/** A built-in or registered imported architecture by name; undefined for any other name. */
export function findArchitecture(name: string | null | undefined): Architecture | undefined {
  return name ? (registry.get(name) ?? imported.get(name)) : undefined;
}

/** @throws Error naming the unknown architecture and the supported ones. */
export function getArchitecture(name: string): Architecture {
  const a = findArchitecture(name);
  if (!a) throw new Error(`Unknown architecture '${name}'. Supported architectures are: ${architectureNames().join(', ')}.`);
  return a;
}

/** The id other layers refer to a layer by: its name, or `#i` (its index) when it has none. */
export function layerId(arch: Architecture, i: number): string {
  return arch.layers[i]!.name ?? `#${i}`;
}

/**
 * The indices of the layers each layer reads (-1: the network's input).
 * @throws Error for an input that names no earlier layer (the list must be in topological order).
 */
export function layerInputs(arch: Architecture): number[][] {
  const index = new Map<string, number>([['input', -1]]);
  return arch.layers.map((layer, i) => {
    const names = layer.inputs ?? [i === 0 ? 'input' : layerId(arch, i - 1)];
    const ins = names.map((n) => {
      const j = index.get(n);
      if (j === undefined) throw new Error(`Architecture '${arch.name}': layer ${layerId(arch, i)} reads '${n}', which is not an earlier layer`);
      return j;
    });
    if (index.has(layerId(arch, i))) throw new Error(`Architecture '${arch.name}': two layers are called '${layerId(arch, i)}'`);
    index.set(layerId(arch, i), i);
    return ins;
  });
}

/** How many layers read each layer's output (the output layer: 0). */
export function consumerCounts(arch: Architecture): number[] {
  const counts = arch.layers.map(() => 0);
  for (const ins of layerInputs(arch)) for (const j of ins) if (j >= 0) counts[j]!++;
  return counts;
}

/**
 * The layers of an architecture that is a plain chain of conv/pool/flatten/dense, for the code that
 * understands only chains (the NHWC ONNX writer, the Keras Sequential topology, unit permutation).
 * @throws Error naming `purpose` and the first layer a chain cannot hold.
 */
export function chainLayers(arch: Architecture, purpose: string): readonly ChainLayer[] {
  const inputs = layerInputs(arch);
  return arch.layers.map((layer, i) => {
    const wired = inputs[i]!.length === 1 && inputs[i]![0] === i - 1;
    const plain = layer.type === 'conv2d' ? layer.useBias !== false : ['maxPool', 'avgPool', 'flatten', 'dense'].includes(layer.type);
    if (!wired || !plain) {
      const what = layer.type === 'conv2d' && layer.useBias === false ? 'conv2d layer without a bias' : `${layer.type} layer`;
      throw new Error(`${purpose} supports plain chains of conv, max or average pool, flatten and dense layers; ${arch.name} has ${what} ${layerId(arch, i)}${wired ? '' : ' outside a chain'}`);
    }
    return layer as ChainLayer;
  });
}

/** True when chainLayers would accept the architecture. */
export function isChain(arch: Architecture): boolean {
  try {
    chainLayers(arch, '');
    return true;
  } catch {
    return false;
  }
}

function convOut(size: number, layer: Conv2dLayer): number {
  if (layer.padding === 'same') return Math.ceil(size / layer.stride);
  const pad = layer.padding === 'valid' ? 0 : layer.padding;
  return Math.floor((size + 2 * pad - layer.kernel) / layer.stride) + 1;
}

/** Shape of each layer's output, NHWC without the batch axis ([units] after flatten, pooling to a vector, dense). */
export function activationShapes(arch: Architecture): number[][] {
  const inputs = layerInputs(arch);
  const out: number[][] = [];
  arch.layers.forEach((layer, i) => {
    const ins = inputs[i]!.map((j) => (j < 0 ? [...arch.inputShape] : out[j]!));
    try {
      out.push(layerOutputShape(layer, ins));
    } catch (e) {
      throw new Error(`Architecture '${arch.name}': layer ${layerId(arch, i)} ${(e as Error).message}`);
    }
  });
  return out;
}

/**
 * The output shape of one layer from its inputs' shapes (as activationShapes gives them), so a graph
 * can be checked layer by layer as it is built.
 * @throws Error saying what the layer cannot take (message without the layer's name).
 */
export function layerOutputShape(layer: Layer, ins: readonly (readonly number[])[]): number[] {
  const shape = [...ins[0]!];
  const fail = (why: string): never => {
    throw new Error(why);
  };
  const spatial = (): [number, number, number] => (shape.length === 3 ? (shape as [number, number, number]) : fail(`needs an [h, w, c] input; found [${shape.join(', ')}]`));
  const nonEmpty = (out: number[]): number[] => (out.every((d) => d >= 1) ? out : fail(`leaves no output from its [${shape.join(', ')}] input`));
  switch (layer.type) {
    case 'conv2d': {
      const [h, w] = spatial();
      return nonEmpty([convOut(h, layer), convOut(w, layer), layer.filters]);
    }
    case 'maxPool':
    case 'avgPool': {
      const [h, w, c] = spatial();
      return nonEmpty([Math.floor(h / layer.size), Math.floor(w / layer.size), c]);
    }
    case 'shortcut': {
      const [h, w, c] = spatial();
      if (layer.filters < c) fail(`cannot pad ${c} channels down to ${layer.filters}`);
      return [Math.ceil(h / layer.stride), Math.ceil(w / layer.stride), layer.filters];
    }
    case 'globalAvgPool':
      return [spatial()[2]];
    case 'flatten':
      return [shape.reduce((a, b) => a * b, 1)];
    case 'dense':
      if (shape.length !== 1) fail('needs a vector input: put a flatten or a global pool before it');
      return [layer.units];
    case 'add':
      if (ins.length !== 2 || ins[1]!.join() !== shape.join()) fail(`adds inputs of shapes ${ins.map((x) => `[${x.join(', ')}]`).join(' and ')}`);
      return shape;
    case 'batchNorm':
    case 'dropout':
      return shape;
  }
}

/** The parameter tensors in canonical order: layer order; kernel, bias; gamma, beta, moving mean, moving variance. */
export function paramSpecs(arch: Architecture): ParamSpec[] {
  const shapes = activationShapes(arch);
  const inputs = layerInputs(arch);
  const specs: ParamSpec[] = [];
  arch.layers.forEach((layer, i) => {
    const j = inputs[i]![0]!;
    const inShape = j < 0 ? [...arch.inputShape] : shapes[j]!;
    if (layer.type === 'conv2d') {
      const cin = inShape[2]!;
      const fanIn = layer.kernel * layer.kernel * cin;
      const fanOut = layer.kernel * layer.kernel * layer.filters;
      const base = { layer: layer.name, fanIn, fanOut, trainable: true, keyable: true };
      specs.push({ ...base, name: `${layer.name}/kernel`, shape: [layer.kernel, layer.kernel, cin, layer.filters], role: 'kernel' });
      if (layer.useBias !== false) specs.push({ ...base, name: `${layer.name}/bias`, shape: [layer.filters], role: 'bias' });
    } else if (layer.type === 'dense') {
      const fanIn = inShape[0]!;
      const base = { layer: layer.name, fanIn, fanOut: layer.units, trainable: true, keyable: true };
      specs.push({ ...base, name: `${layer.name}/kernel`, shape: [fanIn, layer.units], role: 'kernel' });
      specs.push({ ...base, name: `${layer.name}/bias`, shape: [layer.units], role: 'bias' });
    } else if (layer.type === 'batchNorm') {
      const c = inShape[inShape.length - 1]!;
      const base = { layer: layer.name, shape: [c], fanIn: 1, fanOut: 1, keyable: false };
      specs.push({ ...base, name: `${layer.name}/gamma`, role: 'gamma', trainable: true });
      specs.push({ ...base, name: `${layer.name}/beta`, role: 'beta', trainable: true });
      specs.push({ ...base, name: `${layer.name}/moving_mean`, role: 'movingMean', trainable: false });
      specs.push({ ...base, name: `${layer.name}/moving_variance`, role: 'movingVariance', trainable: false });
    }
  });
  return specs;
}

/** Parameters an optimiser trains (what a parameter count counts: PyTorch's numel over parameters()). */
export function trainableParameterCount(arch: Architecture): number {
  return paramSpecs(arch).filter((s) => s.trainable).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/**
 * The tensors of a model that may carry key positions: for a known architecture its conv and
 * dense kernels and biases; for anything else every tensor (nothing tells them apart).
 */
export function keyableTensors<T extends { name: string }>(arch: string | undefined, tensors: readonly T[]): T[] {
  const a = findArchitecture(arch);
  if (!a) return [...tensors];
  const keyable = new Set(paramSpecs(a).filter((s) => s.keyable).map((s) => s.name));
  return tensors.filter((t) => keyable.has(t.name));
}

/**
 * The registered architecture whose every tensor a model holds under its canonical name and shape (a
 * model written without its architecture's name), or undefined when none or several fit.
 */
export function architectureOf(tensors: readonly { name: string; shape: readonly number[] }[]): Architecture | undefined {
  const have = new Map(tensors.map((t) => [t.name, t.shape.join('x')]));
  const fits = [...registry.values()].filter((a) => paramSpecs(a).every((s) => have.get(s.name) === s.shape.join('x')));
  return fits.length === 1 ? fits[0] : undefined;
}

