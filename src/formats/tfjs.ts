/**
 * TensorFlow.js layers (and graph) format: a `model.json` with `modelTopology` and a `weightsManifest`
 * of groups `{ paths: [shard files], weights: [{ name, shape, dtype, quantization? }] }`; each group's
 * weights lie back to back in the concatenation of its shards. The reader takes the files as given
 * (model.json + shards, matched by name; the format is found from content), refuses shard paths that
 * try to leave the model's folder, reads float32/int32/bool weights and dequantizes the tfjs
 * quantization dtypes uint8/uint16 (value = q·scale + min) and float16. The writer builds a Keras
 * Sequential topology from the architecture's layer list that `tf.loadLayersModel` loads.
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { chainLayers, isChain, paramSpecs, type Architecture } from '../core/architectures.js';
import { FormatError, guardRead } from './errors.js';
import { ReadBudget, checkName, checkShape, decodeUtf8, describe, float32Bytes, isPlainObject, parseJson, toFloat32, type ElementKind } from './common.js';
import { DEFAULT_READ_LIMITS, type ModelFile, type ReadLimits, type TfjsModelJson, type TfjsWeightsGroup } from './types.js';

const DTYPE_KINDS: Readonly<Record<string, ElementKind>> = { float32: 'f32', int32: 'i32', bool: 'bool' };
const QUANT_KINDS: Readonly<Record<string, ElementKind>> = { uint8: 'u8', uint16: 'u16', float16: 'f16' };

/** The file names a writer uses and a default shard size like tfjs' own (4 MiB). */
export const TFJS_MODEL_JSON = 'model.json';
export const TFJS_DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** True when the bytes are a JSON object that mentions a weightsManifest (a tfjs model.json). */
export function sniffTfjs(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x7b) return false;
  // A model.json is small; look for the key in its first 16 MiB without decoding the rest.
  const head = bytes.subarray(i, Math.min(bytes.length, 16 * 1024 * 1024));
  return Buffer.from(head.buffer, head.byteOffset, head.length).includes('"weightsManifest"');
}

/**
 * Checks a shard path from a weightsManifest and returns it with './' segments removed.
 * @throws FormatError WM_ERR_FORMAT_PATH for '..' segments, absolute paths, backslashes, URL schemes,
 * percent-encoded separators or dots, control characters, or an empty path.
 */
export function checkShardPath(p: unknown, limits: ReadLimits = DEFAULT_READ_LIMITS): string {
  const refuse = (why: string): never => {
    throw new FormatError('WM_ERR_FORMAT_PATH', `tfjs: weight file path ${describe(p)} ${why}; paths must be relative names inside the model's folder`);
  };
  if (typeof p !== 'string' || p.length === 0) return refuse('is not a non-empty string');
  if (p.length > limits.maxNameLength) return refuse(`is longer than ${limits.maxNameLength} characters`);
  if (/[\u0000-\u001f\u007f]/.test(p)) return refuse('contains control characters');
  if (p.includes('\\')) return refuse('contains a backslash');
  if (p.startsWith('/')) return refuse('is absolute');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(p)) return refuse('has a URL scheme or drive letter');
  if (/%(2e|2f|5c|00)/i.test(p)) return refuse('contains a percent-encoded dot, slash or backslash');
  const segs = p.split('/').filter((s) => s !== '.');
  if (segs.some((s) => s === '..')) return refuse("contains '..'");
  if (segs.some((s) => s === '')) return refuse('has an empty segment');
  return segs.join('/');
}

/**
 * Reads a tfjs model from its files: exactly one model.json (found by content) plus every shard its
 * manifest names. Weights held whole in one 4-byte aligned float32 shard are views (no copy).
 * @throws FormatError MALFORMED (no or several model.json, bad manifest, shards shorter or longer than
 * their weights), PATH, MISSING_FILE, UNSUPPORTED_DTYPE, TOO_LARGE, TRUNCATED.
 */
export function readTfjs(files: readonly ModelFile[], limits: ReadLimits = DEFAULT_READ_LIMITS, budget = new ReadBudget(limits)): ParamSet {
  return guardRead('tfjs', () => {
    const jsons = files.filter((f) => sniffTfjs(f.bytes));
    if (jsons.length !== 1) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: expected one model.json among the files, found ${jsons.length} (${jsons.map((f) => f.name).join(', ') || 'none'})`);
    }
    const modelJsonFile = jsons[0]!;
    const manifest = parseModelJson(modelJsonFile.bytes, limits);
    const dir = modelJsonFile.name.includes('/') ? modelJsonFile.name.slice(0, modelJsonFile.name.lastIndexOf('/') + 1) : '';
    const shardFiles = files.filter((f) => f !== modelJsonFile);
    const tensors: ParamTensor[] = [];
    const seen = new Set<string>();
    manifest.weightsManifest.forEach((group, g) => {
      const shards = group.paths.map((p) => findShard(shardFiles, dir, checkShardPath(p, limits)));
      tensors.push(...readGroup(group, g, shards, limits, budget, seen));
    });
    return { tensors };
  });
}

/** Parses and validates a model.json's weightsManifest (the topology is kept as opaque JSON). */
export function parseModelJson(bytes: Uint8Array, limits: ReadLimits = DEFAULT_READ_LIMITS): TfjsModelJson {
  if (bytes.length > limits.maxHeaderBytes) {
    throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `tfjs: model.json is ${bytes.length} bytes; at most ${limits.maxHeaderBytes} are accepted`);
  }
  const json = parseJson(decodeUtf8(bytes, 'tfjs model.json').replace(/^\uFEFF/, ''), 'tfjs model.json');
  if (!isPlainObject(json)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: model.json must be a JSON object, found ${describe(json)}`);
  const format = json['format'];
  if (format !== undefined && format !== 'layers-model' && format !== 'graph-model') {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED', `tfjs: model.json has format ${describe(format)}. Supported formats are 'layers-model' and 'graph-model'.`);
  }
  const wm = json['weightsManifest'];
  if (!Array.isArray(wm)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: weightsManifest must be an array of groups, found ${describe(wm)}`);
  wm.forEach((group, g) => {
    if (!isPlainObject(group) || !Array.isArray(group['paths']) || !Array.isArray(group['weights'])) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: weightsManifest[${g}] must be { paths: [...], weights: [...] }, found ${describe(group)}`);
    }
    if (group['paths'].length > limits.maxZipEntries) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `tfjs: weightsManifest[${g}] names ${group['paths'].length} shards; at most ${limits.maxZipEntries} are accepted`);
    }
    for (const w of group['weights']) {
      if (!isPlainObject(w)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: weightsManifest[${g}] has a weight entry ${describe(w)} that is not an object`);
    }
  });
  return json as unknown as TfjsModelJson;
}

function findShard(files: readonly ModelFile[], dir: string, path: string): ModelFile {
  const exact = files.find((f) => f.name === dir + path) ?? files.find((f) => f.name === path);
  if (exact) return exact;
  const base = path.slice(path.lastIndexOf('/') + 1);
  const byBase = files.filter((f) => f.name.slice(f.name.lastIndexOf('/') + 1) === base);
  if (byBase.length === 1) return byBase[0]!;
  throw new FormatError(
    'WM_ERR_FORMAT_MISSING_FILE',
    byBase.length > 1
      ? `tfjs: weight file '${path}' matches several uploaded files (${byBase.map((f) => f.name).join(', ')})`
      : `tfjs: weight file '${path}' named in model.json was not among the files (${files.map((f) => f.name).join(', ') || 'none'})`,
  );
}

function readGroup(group: TfjsWeightsGroup, g: number, shards: ModelFile[], limits: ReadLimits, budget: ReadBudget, seen: Set<string>): ParamTensor[] {
  const starts: number[] = [];
  let total = 0;
  for (const s of shards) {
    starts.push(total);
    total += s.bytes.length;
  }
  const out: ParamTensor[] = [];
  let offset = 0;
  for (const w of group.weights) {
    const where = `tfjs weight ${describe(w.name)}`;
    const name = checkName(w.name, where, limits);
    if (seen.has(name)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where} appears twice in the weightsManifest`);
    seen.add(name);
    const { shape, size } = checkShape(w.shape, where, limits);
    const q = w.quantization;
    let kind: ElementKind | undefined;
    if (q !== undefined) {
      if (!isPlainObject(q)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where} has quantization ${describe(q)}, not an object`);
      kind = typeof q.dtype === 'string' && Object.hasOwn(QUANT_KINDS, q.dtype) ? QUANT_KINDS[q.dtype] : undefined;
      if (kind === undefined) {
        throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where} has unknown quantization dtype ${describe(q.dtype)}. Supported dtypes are 'uint8', 'uint16', 'float16'.`);
      }
      if (kind !== 'f16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) {
        throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: ${q.dtype} quantization needs finite scale and min, found scale ${describe(q.scale)}, min ${describe(q.min)}`);
      }
    } else {
      kind = typeof w.dtype === 'string' && Object.hasOwn(DTYPE_KINDS, w.dtype) ? DTYPE_KINDS[w.dtype] : undefined;
      if (kind === undefined) {
        throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `${where} has dtype ${describe(w.dtype)}. Supported dtypes are 'float32', 'int32', 'bool' and the quantizations 'uint8', 'uint16', 'float16'.`);
      }
    }
    const bytesPer = kind === 'u8' || kind === 'bool' ? 1 : kind === 'u16' || kind === 'f16' ? 2 : 4;
    const byteLength = size * bytesPer;
    if (offset + byteLength > total) {
      throw new FormatError('WM_ERR_FORMAT_TRUNCATED', `${where} needs bytes [${offset}, ${offset + byteLength}) of weight group ${g}, whose shards hold ${total}`);
    }
    budget.add(where, size);
    const [src, at] = slice(shards, starts, offset, byteLength);
    const data = toFloat32(src, at, size, kind, true);
    if (q !== undefined && kind !== 'f16') {
      // toFloat32 made a new array for uint8/uint16, so dequantizing in place never touches the input.
      const scale = q.scale!;
      const min = q.min!;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale + min;
    }
    out.push({ name, shape, data });
    offset += byteLength;
  }
  if (offset !== total) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `tfjs: weight group ${g} holds ${total} bytes in its shards but its weights use ${offset}`);
  }
  return out;
}

/** The bytes [offset, offset+len) of the concatenated shards: a view when within one shard, else a copy. */
function slice(shards: ModelFile[], starts: number[], offset: number, len: number): [Uint8Array, number] {
  if (len === 0) return [new Uint8Array(0), 0];
  let k = 0;
  while (offset >= starts[k]! + shards[k]!.bytes.length) k++;
  const local = offset - starts[k]!;
  const first = shards[k]!.bytes;
  if (local + len <= first.length) return [first, local];
  // Shards that lie back to back in one buffer (as loadTfjsModel reads them) need no copy either.
  let end = first.byteOffset + first.length;
  for (let j = k + 1, need = local + len - first.length; need > 0 && j < shards.length; j++) {
    const b = shards[j]!.bytes;
    if (b.buffer !== first.buffer || b.byteOffset !== end) break;
    end += b.length;
    need -= b.length;
    if (need <= 0) return [new Uint8Array(first.buffer, first.byteOffset, first.length + (local + len - first.length)), local];
  }
  const out = new Uint8Array(len);
  let copied = 0;
  let pos = local;
  while (copied < len) {
    const b = shards[k]!.bytes;
    const n = Math.min(b.length - pos, len - copied);
    out.set(b.subarray(pos, pos + n), copied);
    copied += n;
    k++;
    pos = 0;
  }
  return [out, 0];
}

// ---- writing --------------------------------------------------------------------------------------

/**
 * Writes a param set as a tfjs layers model: `model.json` (a Keras Sequential topology built from
 * `arch`, loadable by tf.loadLayersModel) and `group1-shardKofN.bin` shards of at most `shardBytes`.
 * A graph architecture (batch norm, residual sums) gets no topology — Keras has no layer for the
 * option-A shortcut — only the weights and the architecture's name, which weightmark's readers need.
 * @throws Error when the set lacks a tensor the architecture needs or a shape differs.
 */
export function writeTfjs(set: ParamSet, arch: Architecture, opts: { shardBytes?: number } = {}): ModelFile[] {
  const shardBytes = opts.shardBytes ?? TFJS_DEFAULT_SHARD_BYTES;
  const specs = paramSpecs(arch);
  const byName = new Map(set.tensors.map((t) => [t.name, t]));
  const ordered = specs.map((s) => {
    const t = byName.get(s.name);
    if (!t) throw new Error(`writeTfjs: architecture '${arch.name}' needs tensor '${s.name}', the param set has ${set.tensors.map((x) => x.name).join(', ')}`);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]) || t.data.length !== s.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`writeTfjs: tensor '${s.name}' has shape [${t.shape.join(', ')}] (${t.data.length} values); architecture '${arch.name}' needs [${s.shape.join(', ')}]`);
    }
    return t;
  });
  const total = ordered.reduce((a, t) => a + t.data.byteLength, 0);
  const all = new Uint8Array(total);
  let pos = 0;
  for (const t of ordered) {
    all.set(float32Bytes(t.data), pos);
    pos += t.data.byteLength;
  }
  const n = Math.max(1, Math.ceil(total / shardBytes));
  const shards: ModelFile[] = [];
  for (let k = 0; k < n; k++) {
    shards.push({ name: `group1-shard${k + 1}of${n}.bin`, bytes: all.subarray(k * shardBytes, Math.min(total, (k + 1) * shardBytes)) });
  }
  const modelJson = {
    ...(isChain(arch) ? { format: 'layers-model', modelTopology: kerasTopology(arch) } : {}),
    generatedBy: 'weightmark',
    convertedBy: null,
    userDefinedMetadata: { weightmark: { arch: arch.name } },
    weightsManifest: [{ paths: shards.map((s) => s.name), weights: ordered.map((t) => ({ name: t.name, shape: [...t.shape], dtype: 'float32' })) }],
  };
  return [{ name: TFJS_MODEL_JSON, bytes: new TextEncoder().encode(JSON.stringify(modelJson)) }, ...shards];
}

/** A Keras 2 Sequential model config for the architecture (the shape tfjs' own model.save writes). */
export function kerasTopology(arch: Architecture): Record<string, unknown> {
  const initializers = {
    kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
    bias_initializer: { class_name: 'Zeros', config: {} },
    kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  };
  let pools = 0;
  let flattens = 0;
  const layers = chainLayers(arch, 'The Keras Sequential topology').map((layer, i) => {
    const first = i === 0 ? { batch_input_shape: [null, ...arch.inputShape] } : {};
    switch (layer.type) {
      case 'conv2d':
        return {
          class_name: 'Conv2D',
          config: {
            name: layer.name, trainable: true, dtype: 'float32', ...first, filters: layer.filters, kernel_size: [layer.kernel, layer.kernel],
            strides: [layer.stride, layer.stride], padding: layer.padding, data_format: 'channels_last', dilation_rate: [1, 1],
            activation: layer.activation === 'relu' ? 'relu' : 'linear', use_bias: true, ...initializers,
          },
        };
      case 'maxPool':
      case 'avgPool': {
        const [className, prefix] = layer.type === 'maxPool' ? ['MaxPooling2D', 'max_pooling2d'] : ['AveragePooling2D', 'average_pooling2d'];
        return {
          class_name: className,
          config: { name: `${prefix}_${++pools}`, trainable: true, dtype: 'float32', ...first, pool_size: [layer.size, layer.size], padding: 'valid', strides: [layer.size, layer.size], data_format: 'channels_last' },
        };
      }
      case 'flatten':
        return { class_name: 'Flatten', config: { name: `flatten_${++flattens}`, trainable: true, dtype: 'float32', ...first, data_format: 'channels_last' } };
      case 'dense':
        return {
          class_name: 'Dense',
          config: { name: layer.name, trainable: true, dtype: 'float32', ...first, units: layer.units, activation: layer.activation === 'relu' ? 'relu' : 'linear', use_bias: true, ...initializers },
        };
    }
  });
  return { class_name: 'Sequential', config: { name: arch.name, layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' };
}
