/**
 * PyTorch checkpoints as torch.save writes them (PyTorch ≥ 1.6): a zip (entries stored) holding
 * `<root>/data.pkl`, a protocol-2 pickle of the saved object in which each tensor is
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` and each storage a persistent id
 * `('storage', torch.FloatStorage, key, location, numel)` whose bytes are the entry `<root>/data/<key>`
 * (little-endian unless `<root>/byteorder` says 'big'). The pickle is read by the restricted reader of
 * pickle.ts with torch's weights-only globals only: nothing in the file is ever imported or run.
 *
 * The tensors read are those of a state_dict: the top-level dict, or the dict under 'state_dict',
 * 'model_state_dict' or 'model' when there is one (a training checkpoint); nested dicts are flattened
 * with dots, as PyTorch names a module's parameters. Float (float32/16/64, bfloat16) and integer/bool
 * storages are read as their numeric values, as safetensors.ts reads them; views (a storage offset,
 * any non-negative strides) are materialised in C order. Legacy (non-zip) torch.save files are refused.
 * writePt writes the other way: a param set as the PyTorch state_dict torch.load and load_state_dict take.
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import type { Architecture } from '../core/architectures.js';
import { FormatError, guardRead } from './errors.js';
import { ELEMENT_BYTES, ReadBudget, checkName, checkShape, concatBytes, float32Bytes, toFloat32, type ElementKind } from './common.js';
import { emit, emptyDict, isDict, isTuple, kindOf, unpickle, type PyDict, type PyValue } from './pickle.js';
import { listZipEntries, readZipEntry, sniffZip, writeZipStored } from './zip.js';
import { standardSpecs, toStandard } from './onnx/layout.js';
import { DEFAULT_READ_LIMITS, type ReadLimits, type ZipEntry } from './types.js';

/** torch's storage classes → element kind; undefined: a torch storage weightmark does not read. */
const STORAGES: Readonly<Record<string, ElementKind | undefined>> = {
  'torch.FloatStorage': 'f32', 'torch.DoubleStorage': 'f64', 'torch.HalfStorage': 'f16', 'torch.BFloat16Storage': 'bf16',
  'torch.LongStorage': 'i64', 'torch.IntStorage': 'i32', 'torch.ShortStorage': 'i16', 'torch.CharStorage': 'i8',
  'torch.ByteStorage': 'u8', 'torch.BoolStorage': 'bool',
  'torch.ComplexFloatStorage': undefined, 'torch.ComplexDoubleStorage': undefined, 'torch.QInt8Storage': undefined,
  'torch.QUInt8Storage': undefined, 'torch.QInt32Storage': undefined, 'torch.QUInt4x2Storage': undefined, 'torch.QUInt2x4Storage': undefined,
};
const READ_STORAGES = Object.keys(STORAGES).filter((s) => STORAGES[s] !== undefined).map((s) => s.slice(6)).join(', ');

const REBUILD_TENSOR = new Set(['torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor']);
const REBUILD_PARAMETER = new Set(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);
const ORDERED_DICT = 'collections.OrderedDict';
const GLOBALS: ReadonlySet<string> = new Set([ORDERED_DICT, ...REBUILD_TENSOR, ...REBUILD_PARAMETER, ...Object.keys(STORAGES)]);

/** Keys under which training checkpoints keep the model's state_dict, in the order they are looked for. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model'];
/** Deeper than any module tree; bounds the flattening walk. */
const MAX_NESTING = 64;

const DATA_PKL = /^([^/]+)\/data\.pkl$/;

/** What a persistent id stands for: `numel` elements of `kind` in the record `<root>/data/<key>`. */
class Storage {
  constructor(readonly kind: ElementKind, readonly key: string, readonly numel: number) {}
}
/** What _rebuild_tensor_v2 stands for; size and stride are checked when it is materialised. */
class Tensor {
  constructor(readonly storage: Storage, readonly offset: number, readonly size: PyValue, readonly stride: PyValue) {}
}

/**
 * True for a torch.save zip (its first entry, or one listed in its central directory, is
 * `<root>/data.pkl`) and for a bare pickle (legacy torch.save), which the reader then refuses by name.
 */
export function sniffPt(bytes: Uint8Array): boolean {
  if (isBarePickle(bytes)) return true;
  if (!sniffZip(bytes)) return false;
  // The first local header is where torch.save puts data.pkl: enough for a file cut short.
  if (bytes.length >= 30 && bytes[2] === 3 && bytes[3] === 4) {
    const nameLen = bytes[26]! | (bytes[27]! << 8);
    if (DATA_PKL.test(String.fromCharCode(...bytes.subarray(30, Math.min(bytes.length, 30 + nameLen, 30 + 1024))))) return true;
  }
  try {
    return listZipEntries(bytes, DEFAULT_READ_LIMITS).some((e) => DATA_PKL.test(e.name));
  } catch {
    return false; // not a readable zip: the npz reader says what is wrong with it
  }
}

/** PROTO 2..5 at offset 0: how every pickle since Python 2.3 starts, legacy torch.save included. */
function isBarePickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5;
}

/**
 * Reads the state_dict of a torch.save zip checkpoint. Tensors of contiguous float32 storages at
 * aligned offsets are views on `bytes`.
 * @throws FormatError UNSAFE_PICKLE (a global or opcode beyond torch's weights-only format: nothing
 * was run), UNSUPPORTED (a legacy non-zip save), UNSUPPORTED_DTYPE (complex or quantized storages),
 * MALFORMED (no data.pkl, a missing or short storage, no tensors), TRUNCATED, TOO_LARGE, and the zip
 * layer's errors.
 */
export function readPt(bytes: Uint8Array, limits: ReadLimits = DEFAULT_READ_LIMITS, budget = new ReadBudget(limits)): ParamSet {
  return guardRead('pt', () => {
    if (isBarePickle(bytes)) {
      throw new FormatError(
        'WM_ERR_FORMAT_UNSUPPORTED',
        'pt: this is a bare pickle (a legacy torch.save with _use_new_zipfile_serialization=False, or not a checkpoint at all), which cannot be read without running it; re-save it with a current PyTorch: torch.save(torch.load(f, weights_only=True), "model.pt")',
      );
    }
    const entries = listZipEntries(bytes, limits);
    const pkls = entries.filter((e) => DATA_PKL.test(e.name));
    if (pkls.length !== 1) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: a torch.save checkpoint holds one <root>/data.pkl; this zip holds ${pkls.length} (${entries.slice(0, 5).map((e) => e.name).join(', ')}${entries.length > 5 ? ', …' : ''})`);
    }
    const pkl = pkls[0]!;
    const root = DATA_PKL.exec(pkl.name)![1]!;
    if (pkl.uncompressedSize > limits.maxHeaderBytes) {
      throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `pt: ${pkl.name} is ${pkl.uncompressedSize} bytes; at most ${limits.maxHeaderBytes} are accepted`);
    }
    const byName = new Map(entries.map((e) => [e.name, e]));
    let inflated = 0;
    const read = (e: ZipEntry): Uint8Array => {
      const data = readZipEntry(bytes, e);
      inflated += data.length;
      if (inflated > limits.maxInflatedBytes) {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `pt: entries inflate to more than ${limits.maxInflatedBytes} bytes, the limit`);
      }
      return data;
    };
    const littleEndian = byteOrder(byName.get(`${root}/byteorder`), read);

    const top = unpickle(read(pkl), {
      globals: GLOBALS,
      allowedWhat: "torch's weights-only globals",
      refusalHint: 'A whole model saved with torch.save(model) names its classes too: save model.state_dict() instead.',
      reduce: (name, args) => reduce(name, args),
      persistentLoad: (pid) => ({ kind: 'object', value: storageOf(pid, root, byName) }),
    }, `pt ${pkl.name}`);

    const storages = new Map<string, Uint8Array>();
    const tensors: ParamTensor[] = [];
    for (const [name, t] of stateDictTensors(top, limits, pkl.uncompressedSize)) {
      const where = `pt tensor '${name.slice(0, 200)}'`;
      checkName(name, where, limits);
      let data = storages.get(t.storage.key);
      if (!data) {
        data = read(byName.get(`${root}/data/${t.storage.key}`)!);
        storages.set(t.storage.key, data);
      }
      tensors.push(materialise(name, t, data, littleEndian, where, limits, budget));
    }
    return { tensors };
  });
}

function byteOrder(entry: ZipEntry | undefined, read: (e: ZipEntry) => Uint8Array): boolean {
  if (!entry) return true; // torch wrote none before 1.10, and wrote in the host's order: little-endian everywhere it ran
  const text = entry.uncompressedSize <= 16 ? new TextDecoder().decode(read(entry)) : '';
  if (text === 'little' || text === 'big') return text === 'little';
  throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: ${entry.name} must say 'little' or 'big'`);
}

/** What a REDUCE of an allowed global builds: a dict, or a tensor (a parameter is its tensor). */
function reduce(name: string, args: readonly PyValue[]): PyValue {
  if (name === ORDERED_DICT) {
    if (args.length !== 0) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: collections.OrderedDict is called with ${args.length} arguments; torch.save writes it with none`);
    return emptyDict();
  }
  if (REBUILD_TENSOR.has(name)) {
    const [storage, offset, size, stride] = args;
    const s = objectOf(storage);
    if (args.length < 4 || !(s instanceof Storage)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: ${name} needs (storage, offset, size, stride, …); its first argument is ${storage === undefined ? 'missing' : kindOf(storage)}`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: ${name} has a storage offset of ${typeof offset === 'number' ? offset : kindOf(offset ?? null)}; it must be a non-negative integer`);
    }
    return { kind: 'object', value: new Tensor(s, offset, size!, stride!) };
  }
  if (REBUILD_PARAMETER.has(name)) {
    const t = objectOf(args[0]);
    if (!(t instanceof Tensor)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: ${name} is given ${args[0] === undefined ? 'nothing' : kindOf(args[0])}, not a tensor`);
    return args[0]!;
  }
  // A storage class is only ever named inside a persistent id, never called.
  throw new FormatError('WM_ERR_FORMAT_UNSAFE_PICKLE', `pt: the pickle calls '${name}', which torch.save never calls; nothing was executed`);
}

/** The persistent id `('storage', torch.XStorage, key, location, numel)` of a storage record. */
function storageOf(pid: PyValue, root: string, byName: ReadonlyMap<string, ZipEntry>): Storage {
  const items = isTuple(pid) ? pid.items : [];
  const [tag, type, key, , numel] = items;
  const typeName = typeof type === 'object' && type !== null && !Array.isArray(type) && type.kind === 'global' ? type.name : undefined;
  if (items.length !== 5 || tag !== 'storage' || typeName === undefined || typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: a persistent id is not ('storage', torch.<Type>Storage, key, location, numel): found ${kindOf(pid)}${items.length ? ` of ${items.length} items` : ''}`);
  }
  const kind = STORAGES[typeName];
  if (kind === undefined) {
    throw new FormatError('WM_ERR_FORMAT_UNSUPPORTED_DTYPE', `pt: storage '${key.slice(0, 40)}' is a ${typeName}. Supported storages are ${READ_STORAGES}.`);
  }
  // The key is only looked up among the zip's entry names, never used as a path.
  const record = byName.get(`${root}/data/${key}`);
  if (!record) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: storage '${key.slice(0, 40)}' has no record ${root}/data/${key.slice(0, 40)} in the zip`);
  const need = numel * ELEMENT_BYTES[kind];
  if (record.uncompressedSize !== need) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: storage '${key.slice(0, 40)}' (${typeName.slice(6)} × ${numel}) needs ${need} bytes; its record ${record.name} holds ${record.uncompressedSize}`);
  }
  return new Storage(kind, key, numel);
}

function objectOf(v: PyValue | undefined): unknown {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'object' ? v.value : undefined;
}

/** The state_dict's tensors by their PyTorch names (see the module doc for which dict is taken). */
function stateDictTensors(top: PyValue, limits: ReadLimits, pickleBytes: number): [string, Tensor][] {
  if (!isDict(top)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: the checkpoint holds ${kindOf(top)}; a state_dict (a dict of tensors) is read`);
  }
  let dict: PyDict = top;
  for (const k of STATE_DICT_KEYS) {
    const v = top.entries.get(k);
    if (v !== undefined && isDict(v)) {
      dict = v;
      break;
    }
  }
  const out: [string, Tensor][] = [];
  const names = new Set<string>();
  const open = new Set<PyDict>();
  let visits = 0;
  const walk = (d: PyDict, prefix: string) => {
    if (open.has(d)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: the dict at '${prefix.slice(0, 200)}' contains itself`);
    if (open.size >= MAX_NESTING) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: dicts nest deeper than ${MAX_NESTING} levels`);
    open.add(d);
    for (const [k, v] of d.entries) {
      // A dict the memo shares is walked again under each name: a chain of dicts sharing the next one twice
      // would name 2^depth entries. A tree visits each SETITEM once, so no more visits than pickle bytes.
      if (++visits > pickleBytes) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: its dicts share each other so often that they would name more entries than the pickle has bytes (${pickleBytes})`);
      const name = prefix + String(k);
      const t = objectOf(v);
      if (t instanceof Tensor) {
        // 'a.b' and {'a': {'b': …}} flatten to one name
        if (names.has(name)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: two entries name the tensor '${name.slice(0, 200)}'`);
        names.add(name);
        if (out.push([name, t]) > limits.maxTensors) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `pt: more than ${limits.maxTensors} tensors, the limit per model`);
      }
      else if (isDict(v)) walk(v, `${name}.`);
    }
    open.delete(d);
  };
  walk(dict, '');
  if (out.length === 0) {
    const keys = [...dict.entries.keys()].slice(0, 8).map((k) => `'${String(k).slice(0, 40)}'`).join(', ');
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `pt: the checkpoint holds no tensors (its dict has keys ${keys || 'none'}); a state_dict is read`);
  }
  return out;
}

/**
 * One tensor in C order: checked against the limits before anything is allocated, and its storage
 * range (offset + Σ (size−1)·stride) against the storage. Contiguous data is converted in one go
 * (a view for aligned float32); a strided view is gathered element by element.
 */
function materialise(name: string, t: Tensor, data: Uint8Array, littleEndian: boolean, where: string, limits: ReadLimits, budget: ReadBudget): ParamTensor {
  const size = isTuple(t.size) ? [...t.size.items] : t.size;
  const { shape, size: count } = checkShape(size, where, limits);
  const stride = isTuple(t.stride) ? t.stride.items : [];
  if (stride.length !== shape.length || !stride.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: stride must be ${shape.length} non-negative integers for size [${shape.join(', ')}]`);
  }
  const strides = stride as number[];
  budget.add(where, count);
  const eb = ELEMENT_BYTES[t.storage.kind];
  if (count === 0) return { name, shape, data: new Float32Array(0) };
  const last = shape.reduce((a, d, i) => a + (d - 1) * strides[i]!, t.offset);
  if (last >= t.storage.numel) {
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${where}: size [${shape.join(', ')}], stride [${strides.join(', ')}] at offset ${t.offset} reach element ${last} of a storage of ${t.storage.numel}`);
  }
  let expected = 1;
  let contiguous = true;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) contiguous = false;
    expected *= shape[i]!;
  }
  if (contiguous) return { name, shape, data: toFloat32(data, t.offset * eb, count, t.storage.kind, littleEndian) };
  const gathered = new Uint8Array(count * eb);
  const index = new Array<number>(shape.length).fill(0);
  let src = t.offset;
  for (let i = 0; i < count; i++) {
    gathered.set(data.subarray(src * eb, src * eb + eb), i * eb);
    for (let k = shape.length - 1; k >= 0; k--) {
      index[k]!++;
      src += strides[k]!;
      if (index[k]! < shape[k]!) break;
      src -= strides[k]! * shape[k]!;
      index[k] = 0;
    }
  }
  return { name, shape, data: toFloat32(gathered, 0, count, t.storage.kind, littleEndian) };
}

// ---- writing ---------------------------------------------------------------------------------------

/**
 * Writes a param set of `arch` (our canonical names and layouts) as the torch.save checkpoint of the same
 * network's PyTorch state_dict: standard names and layouts (onnx/layout.ts: `conv1.weight` OIHW, dense
 * `[out, in]`, CHW flatten), float32, in an OrderedDict, so `model.load_state_dict(torch.load(f))` takes
 * it (weights_only=True too). Each batch norm also gets the int64 `num_batches_tracked` that PyTorch's
 * strict load asks for; it is 0, since we do not count batches (PyTorch reads it only when momentum is None).
 * @throws Error when the set lacks a tensor of `arch` or has the wrong number of values.
 */
export function writePt(set: ParamSet, arch: Architecture): Uint8Array {
  const byName = new Map(set.tensors.map((t) => [t.name, t] as const));
  const records: StateDictRecord[] = [];
  for (const s of standardSpecs(arch)) {
    const t = byName.get(s.canonical.name);
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (!t || t.data.length !== size) throw new Error(`writePt: ${arch.name} needs '${s.canonical.name}' with ${size} values; the param set ${t ? `has ${t.data.length}` : 'has no such tensor'}`);
    records.push({ name: s.name, shape: s.shape, storage: 'FloatStorage', bytes: float32Bytes(toStandard(t.data, s)) });
    if (s.canonical.role === 'movingVariance') {
      records.push({ name: s.name.replace(/running_var$/, 'num_batches_tracked'), shape: [], storage: 'LongStorage', bytes: new Uint8Array(8) });
    }
  }
  return writeStateDict(records);
}

/** One tensor of a state_dict to write: float32 values, or an int64 counter (`num_batches_tracked`). */
export interface StateDictRecord {
  readonly name: string;
  readonly shape: readonly number[];
  readonly storage: 'FloatStorage' | 'LongStorage';
  /** Little-endian float32 or int64 values. */
  readonly bytes: Uint8Array;
}

/** The torch.save zip of an OrderedDict of these tensors, in order (torch.load(weights_only=True) reads it). */
export function writeStateDict(records: readonly StateDictRecord[]): Uint8Array {
  const pickle: Uint8Array[] = [emit.proto2(), emit.global('collections', 'OrderedDict'), emit.op('EMPTY_TUPLE'), emit.op('REDUCE'), emit.mark()];
  records.forEach((r, key) => {
    const numel = r.shape.reduce((a, b) => a * b, 1);
    const stride = r.shape.map((_, i) => r.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const tuple = (xs: readonly number[]) => [emit.mark(), ...xs.map(emit.int), emit.op('TUPLE')];
    pickle.push(
      emit.str(r.name), emit.global('torch._utils', '_rebuild_tensor_v2'), emit.mark(),
      emit.mark(), emit.str('storage'), emit.global('torch', r.storage), emit.str(String(key)), emit.str('cpu'), emit.int(numel), emit.op('TUPLE'), emit.op('BINPERSID'),
      emit.int(0), ...tuple(r.shape), ...tuple(stride), emit.op('NEWFALSE'),
      emit.global('collections', 'OrderedDict'), emit.op('EMPTY_TUPLE'), emit.op('REDUCE'), // backward hooks: none
      emit.op('TUPLE'), emit.op('REDUCE'),
    );
  });
  pickle.push(emit.op('SETITEMS'), emit.stop());
  // torch takes the archive's root folder from the first entry, so data.pkl goes first.
  return writeZipStored([
    { name: 'archive/data.pkl', data: concatBytes(pickle) },
    { name: 'archive/byteorder', data: new TextEncoder().encode('little') },
    ...records.map((r, key) => ({ name: `archive/data/${key}`, data: r.bytes })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ]);
}
