/**
 * ONNX graph → a trainable Architecture of ours, its canonical param set and the origin map back to
 * the file's own tensor names and layouts (issue 12: a licensor's own network).
 *
 * Supported: Conv (group 1, dilation 1, square kernel, equal strides, symmetric pads or auto_pad),
 * BatchNormalization (training_mode = 1 exports too: the running-statistics outputs must be unread),
 * Relu (fused into the conv / dense / batch norm / add before it), MaxPool and AveragePool (kernel = stride, no pads),
 * GlobalAveragePool and ReduceMean over H and W, Add of two activations, Gemm and MatMul + Add with
 * constant weights, Flatten / Reshape to [N, -1] (its shape constant or computed from a Shape, as
 * x.view(x.size(0), -1) exports), Dropout, Identity, a Pad of zero width (PyTorch's avg_pool2d export). Anything else is refused with
 * WM_ERR_GRAPH_UNSUPPORTED naming the op type and the node, never half-imported.
 *
 * The architecture's name is content-addressed (`onnx-` + 12 hex of the SHA-256 of its canonical
 * JSON, 48 bits), so the same graph always imports to the same name and two graphs do not share one.
 */
import { createHash } from 'node:crypto';
import {
  layerInputs, layerOutputShape, paramSpecs, type Activation, type Architecture, type Layer,
} from '../../core/architectures.js';
import { canonicalJson } from '../../core/canonicalJson.js';
import type { ParamSet, ParamTensor } from '../../core/paramSet.js';
import { FormatError, guardRead } from '../errors.js';
import { DEFAULT_ONNX_READ_LIMITS, readOnnx } from './read.js';
import { decodeGraph, type GraphAttribute, type GraphNode } from './graphDecode.js';
import { canonicalShape, toCanonical, type OriginLayout, type OriginMap, type OriginTensor } from './origin.js';

export interface ImportedGraph {
  readonly architecture: Architecture;
  /** Canonical names and layouts (`conv1/kernel` HWIO, …), `arch` set to the architecture's name. */
  readonly params: ParamSet;
  readonly origin: OriginMap;
}

export const IMPORTED_PREFIX = 'onnx-';

/** `onnx-` + the first 12 hex digits of the SHA-256 of the architecture's canonical JSON (name and description left out). */
export function importedArchitectureName(body: Omit<Architecture, 'name' | 'description'>): string {
  return IMPORTED_PREFIX + createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 12);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type BuiltLayer = Mutable<Layer> & { activation?: Activation };

/** What a value of the graph is: the network's input, a layer's output, or a constant. */
type Value = { readonly kind: 'input' } | { readonly kind: 'layer'; readonly index: number } | { readonly kind: 'constant' };

const FUSES_RELU = new Set(['conv2d', 'dense', 'batchNorm', 'add']);

function unsupported(node: GraphNode, why: string): FormatError {
  return new FormatError('WM_ERR_GRAPH_UNSUPPORTED', `ONNX node '${node.name || '(unnamed)'}' (op ${node.opType}${node.domain ? `, domain ${node.domain}` : ''}): ${why}`);
}

const SUPPORTED_OPS = 'Conv, BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool, ReduceMean over H and W, Add, Gemm, MatMul (+ Add), Flatten, Reshape to [N, -1] (with Shape, Gather, Unsqueeze, Concat computing it), Dropout, Identity, Pad of zero width';

/**
 * Imports the graph of an ONNX model as an architecture the training engines run.
 * @throws FormatError WM_ERR_GRAPH_UNSUPPORTED naming the op type and node of the first thing that
 * cannot be expressed; the reader's own FormatErrors for a malformed file.
 */
export function importOnnxGraph(bytes: Uint8Array): ImportedGraph {
  // Untrusted input: anything but our own FormatErrors (a stray TypeError) is a malformed file, never a 500.
  return guardRead('ONNX graph import', () => importGraph(bytes));
}

function importGraph(bytes: Uint8Array): ImportedGraph {
  const graph = decodeGraph(bytes, DEFAULT_ONNX_READ_LIMITS);
  const weights = new Map(readOnnx(bytes, { asStored: true }).tensors.map((t) => [t.name, t] as const));
  const whole: GraphNode = { name: '(graph)', opType: 'Graph', domain: '', inputs: [], outputs: [], attributes: new Map() };

  const dataInputs = graph.inputs.filter((i) => !graph.initializers.has(i.name));
  if (dataInputs.length !== 1) throw unsupported(whole, `the graph must take one input (an image batch [N, C, H, W]); it takes ${dataInputs.length}`);
  const input = dataInputs[0]!;
  const [, c, h, w] = input.dims;
  if (input.dims.length !== 4 || ![c, h, w].every((d) => typeof d === 'number' && d > 0)) {
    throw unsupported(whole, `input '${input.name}' must be [N, C, H, W] with fixed C, H and W; it is [${input.dims.map((d) => d || '?').join(', ')}]`);
  }
  if (graph.outputs.length !== 1) throw unsupported(whole, `the graph must have one output (the logits); it has ${graph.outputs.length}`);

  // Who reads each value, looked up once (the walk below must stay linear in the nodes). A Shape node
  // reads only the dimensions, not the values: it does not count.
  const consumers = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) if (n.opType !== 'Shape') for (const i of n.inputs) if (i) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n);
  const readersOf = (v: string) => (consumers.get(v)?.length ?? 0) + (v === graph.outputs[0] ? 1 : 0);

  const values = new Map<string, Value>([[input.name, { kind: 'input' }]]);
  /**
   * Small integer vectors computed from an activation's shape, as `x.view(x.size(0), -1)` exports
   * (Shape → Gather → Unsqueeze → Concat → Reshape); 'N' stands for the batch size.
   */
  const shapeInts = new Map<string, readonly (number | 'N')[]>();
  const intsOf = (name: string | undefined): readonly (number | 'N')[] | undefined => (name ? (shapeInts.get(name) ?? graph.int64Constants.get(name)) : undefined);
  const shapeValue = (out: string, ints: readonly (number | 'N')[]): void => {
    shapeInts.set(out, ints);
    values.set(out, { kind: 'constant' });
  };
  for (const name of graph.initializers) values.set(name, { kind: 'constant' });
  const layers: BuiltLayer[] = [];
  const shapes: number[][] = [];
  /** Layer index by name (every layer is named), for the wiring. */
  const indexOf = new Map<string, number>();
  /** The value names that hold each layer's output: its own and those of the no-op nodes after it (Identity, …). */
  const names = new Map<number, string[]>();
  const alias = (name: string, v: Value): void => {
    values.set(name, v);
    if (v.kind === 'layer') names.get(v.index)!.push(name);
  };
  /**
   * True when exactly one node reads layer i's output, through any of its names: each no-op node
   * after it reads one name and adds one, so the reads must number the names.
   */
  const readOnce = (i: number): boolean => names.get(i)!.reduce((n, v) => n + readersOf(v), 0) === names.get(i)!.length;
  const fusable = (i: number): boolean => FUSES_RELU.has(layers[i]!.type) && layers[i]!.activation === 'none' && readOnce(i);
  const origins: OriginTensor[] = [];
  const counters = new Map<string, number>();
  const absorbed = new Set<GraphNode>();

  const layerName = (type: string): string => {
    const k = (counters.get(type) ?? 0) + 1;
    counters.set(type, k);
    return `${type}${k}`;
  };
  const activation = (node: GraphNode, name: string): Value => {
    const v = values.get(name);
    if (!v) throw unsupported(node, `reads '${name}', which no supported node before it produces`);
    if (v.kind === 'constant') throw unsupported(node, `reads the constant '${name}' where an activation is expected`);
    return v;
  };
  const ref = (v: Value): string => (v.kind === 'layer' ? layers[v.index]!.name! : 'input');
  const shapeOf = (v: Value): number[] => (v.kind === 'layer' ? shapes[v.index]! : [h as number, w as number, c as number]);
  const add = (node: GraphNode, layer: BuiltLayer, from: readonly Value[], output: string): void => {
    const index = layers.length;
    const wiredToPrevious = from.length === 1 && (index === 0 ? from[0]!.kind === 'input' : from[0]!.kind === 'layer' && from[0]!.index === index - 1);
    if (!wiredToPrevious) layer.inputs = from.map(ref);
    try {
      shapes.push(layerOutputShape(layer as Layer, from.map(shapeOf)));
    } catch (e) {
      throw unsupported(node, (e as Error).message);
    }
    layers.push(layer);
    indexOf.set(layer.name!, index);
    values.set(output, { kind: 'layer', index });
    names.set(index, [output]);
  };
  /**
   * The layer whose activation a Relu on layer i's output becomes. Directly: the conv / dense / batch
   * norm / add i itself, when nothing else reads its output unactivated. Through a max pool: max and ReLU
   * commute (max(relu(a), relu(b)) = relu(max(a, b)), ReLU being monotone), so `pool → relu` is
   * `relu → pool` when the pool's input and output have no other reader. (Not so for an average pool.)
   */
  const reluTarget = (i: number): number | undefined => {
    if (fusable(i)) return i;
    const pool = layers[i]!;
    if (pool.type !== 'maxPool' || !readOnce(i)) return undefined;
    const from = pool.inputs ? indexOf.get(pool.inputs[0]!) : i - 1;
    return from !== undefined && from >= 0 && fusable(from) ? from : undefined;
  };
  const weight = (node: GraphNode, name: string | undefined, what: string): ParamTensor => {
    const t = name ? weights.get(name) : undefined;
    if (!t || !graph.initializers.has(name!)) throw unsupported(node, `its ${what} must be a float initializer of the graph${name ? `; '${name}' is not` : ''}`);
    return t;
  };
  const keep = (layer: string, role: string, t: ParamTensor, layout: OriginLayout, flattenFrom?: readonly [number, number, number]): void => {
    origins.push({ canonical: `${layer}/${role}`, original: t.name, shape: [...t.shape], layout, ...(flattenFrom ? { flattenFrom } : {}) });
  };
  const onlyReaders = (node: GraphNode, extra: readonly string[]): void => {
    for (const o of extra) if (o && readersOf(o) > 0) throw unsupported(node, `its output '${o}' is read by another node; only the first output of this op can be imported`);
  };

  for (const node of graph.nodes) {
    if (absorbed.has(node)) continue;
    if (node.domain !== '') throw unsupported(node, `ops of domain '${node.domain}' are not supported; supported are ${SUPPORTED_OPS}`);
    const a = (k: string): GraphAttribute | undefined => node.attributes.get(k);
    const out = node.outputs[0] ?? '';
    const redefined = node.outputs.find((o) => o && values.has(o));
    if (redefined) throw unsupported(node, `it defines '${redefined}' again; an ONNX graph defines each value once`);
    switch (node.opType) {
      case 'Identity':
        alias(out, activation(node, node.inputs[0]!));
        break;
      case 'Constant':
        values.set(out, { kind: 'constant' });
        break;
      case 'Pad': {
        // torch.onnx.export writes avg_pool2d as a Pad of zero width before the AveragePool: the identity.
        const pads = a('pads')?.ints ?? (node.inputs[1] ? graph.int64Constants.get(node.inputs[1]) : undefined);
        if (!pads || pads.some((p) => p !== 0)) throw unsupported(node, 'only a Pad of zero width is supported (padding belongs in the Conv)');
        alias(out, activation(node, node.inputs[0]!));
        break;
      }
      case 'Dropout': {
        const x = activation(node, node.inputs[0]!);
        onlyReaders(node, node.outputs.slice(1));
        const ratioName = node.inputs[1];
        const ratio = ratioName ? weights.get(ratioName)?.data[0] : (a('ratio')?.f ?? 0.5);
        if (ratio === undefined || !(ratio >= 0 && ratio < 1)) throw unsupported(node, 'its ratio must be a constant in [0, 1)');
        if (ratio === 0) alias(out, x);
        else add(node, { type: 'dropout', name: layerName('dropout'), rate: ratio }, [x], out);
        break;
      }
      case 'Conv': {
        const x = activation(node, node.inputs[0]!);
        const wt = weight(node, node.inputs[1], 'weight');
        if (wt.shape.length !== 4) throw unsupported(node, `only 2-D convolutions are supported; the weight is [${wt.shape.join(', ')}]`);
        const [filters, , kh, kw] = wt.shape as [number, number, number, number];
        if ((a('group')?.i ?? 1) !== 1) throw unsupported(node, `grouped convolution (group ${a('group')!.i}) is not supported`);
        if ((a('dilations')?.ints ?? [1, 1]).some((d) => d !== 1)) throw unsupported(node, `dilation ${a('dilations')!.ints!.join('x')} is not supported`);
        if (kh !== kw) throw unsupported(node, `only square kernels are supported; this one is ${kh}x${kw}`);
        const strides = a('strides')?.ints ?? [1, 1];
        if (strides.length !== 2 || strides[0] !== strides[1]) throw unsupported(node, `only equal strides are supported; found ${strides.join('x')}`);
        const name = layerName('conv');
        const bias = node.inputs[2] ? weight(node, node.inputs[2], 'bias') : undefined;
        add(node, { type: 'conv2d', name, filters, kernel: kh, stride: strides[0]!, padding: convPadding(node, kh), activation: 'none', ...(bias ? {} : { useBias: false }) }, [x], out);
        keep(name, 'kernel', wt, 'oihw');
        if (bias) keep(name, 'bias', bias, 'same');
        break;
      }
      case 'BatchNormalization': {
        const x = activation(node, node.inputs[0]!);
        if (shapeOf(x).length !== 3) throw unsupported(node, 'batch norm of a flat tensor is not supported; only of [N, C, H, W] maps');
        onlyReaders(node, node.outputs.slice(1));
        const name = layerName('bn');
        const parts = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((role, k) => [role, weight(node, node.inputs[k + 1], role)] as const);
        add(node, { type: 'batchNorm', name, epsilon: a('epsilon')?.f ?? 1e-5, momentum: a('momentum')?.f ?? 0.9, activation: 'none' }, [x], out);
        for (const [role, t] of parts) keep(name, role, t, 'same');
        break;
      }
      case 'Relu': {
        const x = activation(node, node.inputs[0]!);
        const target = x.kind === 'layer' ? reluTarget(x.index) : undefined;
        if (target === undefined) {
          const after = x.kind === 'layer' ? `${layers[x.index]!.type} ${layers[x.index]!.name}` : 'the network input';
          throw unsupported(node, `a ReLU must be the only reader of a Conv, Gemm/MatMul, BatchNormalization or Add (or of a MaxPool of one) to fuse into it; '${node.inputs[0]}' comes from ${after}${x.kind === 'layer' && !readOnce(x.index) ? ', which is also read without the ReLU' : ''}`);
        }
        layers[target]!.activation = 'relu';
        // Past this point the layer's output is the activated one: only the ReLU's name may refer to it.
        values.set(out, x);
        names.set((x as { index: number }).index, [out]);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = activation(node, node.inputs[0]!);
        onlyReaders(node, node.outputs.slice(1));
        const k = a('kernel_shape')?.ints ?? [];
        const s = a('strides')?.ints ?? [1, 1];
        const pads = a('pads')?.ints ?? [0, 0, 0, 0];
        const autoPad = a('auto_pad')?.s ?? 'NOTSET';
        if (k.length !== 2 || k[0] !== k[1] || s[0] !== k[0] || s[1] !== k[1]) throw unsupported(node, `only square pools with stride = kernel are supported; kernel ${k.join('x')}, stride ${s.join('x')}`);
        if (pads.some((p) => p !== 0) || !['NOTSET', 'VALID'].includes(autoPad) || (a('ceil_mode')?.i ?? 0) !== 0 || (a('dilations')?.ints ?? []).some((d) => d !== 1)) {
          throw unsupported(node, 'padded, ceil-mode or dilated pooling is not supported');
        }
        // Without pads, AveragePool's count_include_pad changes nothing.
        add(node, { type: node.opType === 'MaxPool' ? 'maxPool' : 'avgPool', name: layerName('pool'), size: k[0]! }, [x], out);
        break;
      }
      case 'GlobalAveragePool':
      case 'ReduceMean': {
        const x = activation(node, node.inputs[0]!);
        if (node.opType === 'ReduceMean') {
          const axes = a('axes')?.ints ?? (node.inputs[1] ? graph.int64Constants.get(node.inputs[1]) : undefined) ?? [];
          if ([...axes].map((d) => (d < 0 ? d + 4 : d)).sort().join() !== '2,3') throw unsupported(node, `only a mean over H and W (axes 2, 3) is supported; axes ${axes.join(', ')}`);
        }
        add(node, { type: 'globalAvgPool', name: layerName('gap') }, [x], out);
        break;
      }
      case 'Shape': {
        const x = activation(node, node.inputs[0]!);
        if (a('start') || a('end')) throw unsupported(node, 'only the whole shape is supported (no start or end)');
        const s = shapeOf(x);
        shapeValue(out, ['N', ...(s.length === 3 ? [s[2]!, s[0]!, s[1]!] : s)]);
        break;
      }
      case 'Gather': {
        const data = shapeInts.get(node.inputs[0] ?? '');
        const at = intsOf(node.inputs[1]);
        const picked = data && at && (a('axis')?.i ?? 0) === 0 ? at.map((i) => (typeof i === 'number' ? data[i < 0 ? i + data.length : i] : undefined)) : undefined;
        if (!picked || picked.some((v) => v === undefined)) throw unsupported(node, "only a Gather of a Shape's dimensions by constant indices is supported (as x.size(0) exports)");
        shapeValue(out, picked as (number | 'N')[]);
        break;
      }
      case 'Unsqueeze': {
        const v = intsOf(node.inputs[0]);
        const axes = a('axes')?.ints ?? intsOf(node.inputs[1]);
        if (!v || v.length !== 1 || axes?.join() !== '0') throw unsupported(node, 'only an Unsqueeze of one shape number or constant (as x.size(0) exports) is supported');
        shapeValue(out, v);
        break;
      }
      case 'Concat': {
        const parts = node.inputs.map(intsOf);
        if ((a('axis')?.i ?? 0) !== 0 || parts.some((p) => p === undefined)) throw unsupported(node, 'only a Concat of shape numbers (the shape of a Reshape) is supported');
        shapeValue(out, parts.flatMap((p) => [...p!]));
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        const x = activation(node, node.inputs[0]!);
        const shape = shapeOf(x);
        const size = shape.reduce((p, d) => p * d, 1);
        if (node.opType === 'Flatten' && (a('axis')?.i ?? 1) !== 1) throw unsupported(node, `only Flatten with axis 1 is supported; axis ${a('axis')!.i}`);
        if (node.opType === 'Reshape') {
          const to = intsOf(node.inputs[1]);
          // [N or 0, -1], [N or 0, C·H·W] or [-1, C·H·W]: the batch kept, the rest in one row (a fixed batch size is not).
          const ok = to?.length === 2 && (((to[0] === 0 || to[0] === 'N') && (to[1] === -1 || to[1] === size)) || (to[0] === -1 && to[1] === size));
          if (!ok) throw unsupported(node, `only a reshape to [N, -1] with a constant shape is supported${to ? `; shape [${to.join(', ')}]` : ''}`);
        }
        // A flatten of what is already [N, features] (after a global pool) changes nothing.
        if (shape.length === 1) alias(out, x);
        else add(node, { type: 'flatten', name: layerName('flatten') }, [x], out);
        break;
      }
      case 'Gemm': {
        const x = activation(node, node.inputs[0]!);
        if ((a('transA')?.i ?? 0) !== 0 || (a('alpha')?.f ?? 1) !== 1 || (a('beta')?.f ?? 1) !== 1) throw unsupported(node, 'only Gemm with transA = 0 and alpha = beta = 1 is supported');
        const wt = weight(node, node.inputs[1], 'weight');
        if (!node.inputs[2]) throw unsupported(node, 'a dense layer without a bias is not supported');
        const transB = (a('transB')?.i ?? 0) === 1;
        dense(node, x, wt, weight(node, node.inputs[2], 'bias'), transB ? 'outIn' : 'inOut', out);
        break;
      }
      case 'MatMul': {
        const x = activation(node, node.inputs[0]!);
        const wt = weight(node, node.inputs[1], 'weight');
        const next = consumers.get(out) ?? [];
        const biasAdd = next.length === 1 && next[0]!.opType === 'Add' && readersOf(out) === 1 ? next[0]! : undefined;
        const biasName = biasAdd?.inputs.find((i) => i !== out);
        if (!biasAdd || !biasName || !graph.initializers.has(biasName)) throw unsupported(node, 'a MatMul must be followed by the Add of a constant bias (only then is it a dense layer)');
        absorbed.add(biasAdd);
        dense(node, x, wt, weight(biasAdd, biasName, 'bias'), 'inOut', biasAdd.outputs[0]!);
        break;
      }
      case 'Add': {
        const [p, q] = node.inputs;
        if (node.inputs.length !== 2 || graph.initializers.has(p!) || graph.initializers.has(q!)) throw unsupported(node, 'only the sum of two activations (a residual connection) or a MatMul bias is supported');
        add(node, { type: 'add', name: layerName('add'), inputs: ['', ''], activation: 'none' }, [activation(node, p!), activation(node, q!)], out);
        break;
      }
      default:
        throw unsupported(node, `op not supported; supported are ${SUPPORTED_OPS}`);
    }
  }

  function dense(node: GraphNode, x: Value, wt: ParamTensor, bias: ParamTensor, layout: OriginLayout, out: string): void {
    if (wt.shape.length !== 2) throw unsupported(node, `the weight must be 2-D; it is [${wt.shape.join(', ')}]`);
    const inShape = shapeOf(x);
    if (inShape.length !== 1) throw unsupported(node, `a dense layer needs [N, features]; put a Flatten before it (its input is [${inShape.join(', ')}] per sample)`);
    const units = layout === 'outIn' ? wt.shape[0]! : wt.shape[1]!;
    const name = layerName('fc');
    add(node, { type: 'dense', name, units, activation: 'none' }, [x], out);
    keep(name, 'kernel', wt, layout, flattenSource(layers, indexOf, x, shapeOf));
    keep(name, 'bias', bias, 'same');
  }

  const result = values.get(graph.outputs[0]!);
  if (!result || result.kind !== 'layer' || result.index !== layers.length - 1) throw unsupported(whole, `the output '${graph.outputs[0]}' must be the last layer's result`);
  const read = new Set(layerInputs({ name: 'import', description: '', inputShape: [h as number, w as number, c as number], classes: 0, layers: layers as Layer[] }).flat());
  const unread = layers.findIndex((_, i) => i < layers.length - 1 && !read.has(i));
  if (unread >= 0) throw unsupported(whole, `layer ${layers[unread]!.name}'s result is not used on the way to the output`);

  const last = shapes[shapes.length - 1]!;
  if (last.length !== 1) throw unsupported(whole, `the output must be [N, classes]; it is [N, ${last.join(', ')}]`);
  const body = { inputShape: [h, w, c] as [number, number, number], classes: last[0]!, layers: layers as Layer[] };
  const name = importedArchitectureName(body);
  const architecture: Architecture = { name, description: `imported from ONNX: ${describe(layers)}`, ...body };

  const byCanonical = new Map(origins.map((o) => [o.canonical, o] as const));
  const tensors = paramSpecs(architecture).map((s) => {
    const o = byCanonical.get(s.name)!;
    if (canonicalShape(o).join() !== s.shape.join()) throw unsupported(whole, `initializer '${o.original}' has shape [${o.shape.join(', ')}], which does not fit ${s.name} [${s.shape.join(', ')}]`);
    return { name: s.name, shape: [...s.shape], data: toCanonical(weights.get(o.original)!.data, o) };
  });
  const ordered = paramSpecs(architecture).map((s) => byCanonical.get(s.name)!);
  return { architecture, params: { arch: name, tensors }, origin: { tensors: ordered } };
}

/** Conv padding as our layer states it: symmetric explicit pads, or TensorFlow's 'same' (SAME_UPPER) / 'valid'. */
function convPadding(node: GraphNode, kernel: number): number | 'same' | 'valid' {
  const autoPad = node.attributes.get('auto_pad')?.s ?? 'NOTSET';
  if (autoPad === 'SAME_UPPER') return 'same';
  if (autoPad === 'VALID') return 'valid';
  if (autoPad !== 'NOTSET') throw unsupported(node, `auto_pad ${autoPad} is not supported (SAME_UPPER, VALID or explicit symmetric pads are)`);
  const pads = node.attributes.get('pads')?.ints ?? [0, 0, 0, 0];
  if (pads.length !== 4 || pads.some((p) => p !== pads[0])) throw unsupported(node, `only symmetric padding is supported; pads [${pads.join(', ')}]`);
  if (pads[0]! >= kernel) throw unsupported(node, `padding ${pads[0]} is not smaller than the kernel ${kernel}`);
  return pads[0]!;
}

/**
 * The [h, w, c] map a dense layer on `x` reads through a flatten (dropouts in between act per element,
 * so they do not reorder it), when it has spatial extent; the flatten runs in CHW order in the file.
 */
function flattenSource(layers: readonly BuiltLayer[], indexOf: ReadonlyMap<string, number>, x: Value, shapeOf: (v: Value) => number[]): [number, number, number] | undefined {
  const prev = (k: number): Value => {
    const l = layers[k]!;
    if (!l.inputs) return k === 0 ? { kind: 'input' } : { kind: 'layer', index: k - 1 };
    return l.inputs[0] === 'input' ? { kind: 'input' } : { kind: 'layer', index: indexOf.get(l.inputs[0]!)! };
  };
  let v = x;
  while (v.kind === 'layer' && layers[v.index]!.type === 'dropout') v = prev(v.index);
  if (v.kind !== 'layer' || layers[v.index]!.type !== 'flatten') return undefined;
  const shape = shapeOf(prev(v.index));
  return shape.length === 3 && shape[0]! * shape[1]! > 1 ? (shape as [number, number, number]) : undefined;
}

function describe(layers: readonly BuiltLayer[]): string {
  const counts = new Map<string, number>();
  for (const l of layers) counts.set(l.type, (counts.get(l.type) ?? 0) + 1);
  return [...counts].map(([t, n]) => `${n} ${t}`).join(', ');
}
