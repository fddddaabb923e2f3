/**
 * The architecture registry, declared as data: one layer list serves the TensorFlow.js forward pass,
 * the ONNX exporter, the PyTorch fixture script, alignment and the function-preserving attacks, so they
 * cannot disagree about shapes, names or which layer feeds which.
 *
 * Canonical layout (the param set's): NHWC activations, conv kernels HWIO, dense kernels [in, out],
 * flatten in HWC order. Parameter names are `<layer>/kernel` and `<layer>/bias`.
 */
export type Activation = 'relu' | 'none';

export interface Conv2dLayer {
  readonly type: 'conv2d';
  readonly name: string;
  readonly filters: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: 'valid' | 'same';
  readonly activation: Activation;
}
export interface MaxPoolLayer {
  readonly type: 'maxPool';
  readonly size: number;
}
export interface FlattenLayer {
  readonly type: 'flatten';
}
export interface DenseLayer {
  readonly type: 'dense';
  readonly name: string;
  readonly units: number;
  readonly activation: Activation;
}
export type Layer = Conv2dLayer | MaxPoolLayer | FlattenLayer | DenseLayer;
export type ParamLayer = Conv2dLayer | DenseLayer;

export interface Architecture {
  readonly name: string;
  readonly description: string;
  /** [height, width, channels] of one input sample. */
  readonly inputShape: readonly [number, number, number];
  readonly classes: number;
  readonly layers: readonly Layer[];
}

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** The layer the tensor belongs to, and whether it is its kernel or its bias. */
  readonly layer: string;
  readonly role: 'kernel' | 'bias';
  /** Inputs feeding one output unit: sets the initial weight scale (He for ReLU, Glorot otherwise). */
  readonly fanIn: number;
  readonly fanOut: number;
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

const registry = new Map<string, Architecture>([
  [lenet5.name, lenet5],
  [mlp.name, mlp],
]);

export function architectureNames(): string[] {
  return [...registry.keys()];
}

/** @throws Error naming the unknown architecture and the supported ones. */
export function getArchitecture(name: string): Architecture {
  const a = registry.get(name);
  if (!a) throw new Error(`Unknown architecture '${name}'. Supported architectures are: ${architectureNames().join(', ')}.`);
  return a;
}

/** Shape of the activation after each layer, NHWC without the batch axis ([units] after flatten). */
export function activationShapes(arch: Architecture): number[][] {
  let shape: number[] = [...arch.inputShape];
  const out: number[][] = [];
  for (const layer of arch.layers) {
    switch (layer.type) {
      case 'conv2d': {
        const [h, w] = shape as [number, number, number];
        const outH = layer.padding === 'same' ? Math.ceil(h / layer.stride) : Math.floor((h - layer.kernel) / layer.stride) + 1;
        const outW = layer.padding === 'same' ? Math.ceil(w / layer.stride) : Math.floor((w - layer.kernel) / layer.stride) + 1;
        shape = [outH, outW, layer.filters];
        break;
      }
      case 'maxPool': {
        const [h, w, c] = shape as [number, number, number];
        shape = [Math.floor(h / layer.size), Math.floor(w / layer.size), c];
        break;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'dense':
        shape = [layer.units];
        break;
    }
    out.push(shape);
  }
  return out;
}

/** The parameter tensors in canonical order (layer order, kernel before bias). */
export function paramSpecs(arch: Architecture): ParamSpec[] {
  const shapes = activationShapes(arch);
  const specs: ParamSpec[] = [];
  let inShape: number[] = [...arch.inputShape];
  arch.layers.forEach((layer, i) => {
    if (layer.type === 'conv2d') {
      const cin = inShape[2]!;
      const fanIn = layer.kernel * layer.kernel * cin;
      const fanOut = layer.kernel * layer.kernel * layer.filters;
      specs.push({ name: `${layer.name}/kernel`, shape: [layer.kernel, layer.kernel, cin, layer.filters], layer: layer.name, role: 'kernel', fanIn, fanOut });
      specs.push({ name: `${layer.name}/bias`, shape: [layer.filters], layer: layer.name, role: 'bias', fanIn, fanOut });
    } else if (layer.type === 'dense') {
      if (inShape.length !== 1) throw new Error(`Architecture '${arch.name}': dense layer '${layer.name}' needs a flatten before it`);
      const fanIn = inShape[0]!;
      specs.push({ name: `${layer.name}/kernel`, shape: [fanIn, layer.units], layer: layer.name, role: 'kernel', fanIn, fanOut: layer.units });
      specs.push({ name: `${layer.name}/bias`, shape: [layer.units], layer: layer.name, role: 'bias', fanIn, fanOut: layer.units });
    }
    inShape = shapes[i]!;
  });
  return specs;
}
