/**
 * The format fuzz harness, run in a worker by formats-fuzz.test.ts so that a hang can be detected and
 * the worker terminated. Seeded (mulberry32), no Math.random. To fuzz another format, add one line to
 * SEEDS: a name and a function returning valid file sets.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { readModel, writeModel } from '../src/formats/index.js';
import { FormatError } from '../src/formats/errors.js';
import { writeTfjs } from '../src/formats/tfjs.js';
import { float32ToHalf } from '../src/formats/float16.js';
import { sampleOnnxFiles } from '../src/formats/onnx/samples.js';
import { paramSpecs, type Architecture } from '../src/core/architectures.js';
import type { ModelFile, ReadLimits } from '../src/formats/types.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { parseUploadedDataset } from '../src/data/uploadedDataset.js';
import { DatasetError } from '../src/data/datasetErrors.js';
import { DEFAULT_DATASET_LIMITS } from '../src/data/imageSet.js';
import { i64npy, idxOf, imageFolderZip, labels, noiseImage, npzOf, u8npy } from './dataset-helpers.js';

const tiny: Architecture = {
  name: 'tiny', description: 'fuzz net', inputShape: [6, 6, 2], classes: 4,
  layers: [
    { type: 'conv2d', name: 'conv1', filters: 3, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 }, { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 4, activation: 'none' },
  ],
};
function smallSet(arch: Architecture): ParamSet {
  return { tensors: paramSpecs(arch).map((p, k) => ({ name: p.name, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + k)) })) };
}
const fixture = (name: string, dir = 'formats'): ModelFile => ({ name, bytes: new Uint8Array(readFileSync(new URL(`./fixtures/${dir}/${name}`, import.meta.url))) });
const enc = (s: string) => new TextEncoder().encode(s);

function quantizedTfjs(): ModelFile[] {
  const weights = [
    { name: 'a', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1 } },
    { name: 'b', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } },
    { name: 'c', shape: [2], dtype: 'float32' },
  ];
  const shard = new Uint8Array(4 + 6 + 8);
  shard.set([1, 2, 3, 4]);
  shard.set(new Uint8Array(float32ToHalf(new Float32Array([1, 2, 3])).buffer), 4);
  shard.set(new Uint8Array(new Float32Array([5, 6]).buffer), 10);
  return [{ name: 'model.json', bytes: enc(JSON.stringify({ format: 'layers-model', modelTopology: null, weightsManifest: [{ paths: ['w.bin'], weights }] })) }, { name: 'w.bin', bytes: shard }];
}

function halfSafetensors(): ModelFile {
  const header = enc(JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, d: { dtype: 'F64', shape: [1], data_offsets: [8, 16] }, __metadata__: { a: 'b' } }));
  const out = new Uint8Array(8 + header.length + 16);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return { name: 'h.safetensors', bytes: out };
}

/** Valid inputs per format; each entry is one model's file set. Adding a format is one line. */
export const SEEDS: Record<string, () => ModelFile[][]> = {
  safetensors: () => [writeModel(smallSet(tiny), 'safetensors'), [halfSafetensors()]],
  npy: () => [[fixture('c_f4.npy')], [fixture('fortran_f4.npy')], [fixture('be_f4.npy')], [fixture('le_f2.npy')], [fixture('v2_f4.npy')]],
  npz: () => [[fixture('stored.npz')], [fixture('deflated.npz')], writeModel(smallSet(tiny), 'npz')],
  tfjs: () => [writeTfjs(smallSet(tiny), tiny, { shardBytes: 128 }), quantizedTfjs()],
  pt: () => [[fixture('views.pt', 'pt')], [fixture('lenet5_f16.pt', 'pt')], writeModel(smallSet(tiny), 'pt', tiny)],
  onnx: () => [writeModel(smallSet(tiny), 'onnx', tiny), ...sampleOnnxFiles().filter((b) => b.length < 300_000).map((bytes) => [{ name: 'model.onnx', bytes }])],
  // uploaded datasets (src/data/uploadedDataset.ts): the `dataset-` prefix routes them to its parser
  'dataset-zip': () => [[{ name: 'd.zip', bytes: imageFolderZip({ classes: ['a', 'b'], perClass: 5, h: 6, w: 6 }) }], [{ name: 'j.zip', bytes: imageFolderZip({ classes: ['a', 'b'], perClass: 5, h: 8, w: 8, jpeg: true }) }]],
  'dataset-npz': () => [[{ name: 'd.npz', bytes: npzOf({ x: u8npy([10, 4, 4, 3], noiseImage(4, 40, 3, 1)), y: i64npy([10], labels(2, 5)) }) }]],
  'dataset-idx': () => [[{ name: 'i', bytes: idxOf([10, 5, 5], noiseImage(5, 50, 1, 2)) }, { name: 'l.gz', bytes: idxOf([10], Uint8Array.from(labels(2, 5)), true) }]],
};

/** Dataset limits small enough that a mutated size cannot make a case slow. */
const FUZZ_DATASET_LIMITS = { ...DEFAULT_DATASET_LIMITS, maxSamples: 1000, maxDecodedBytes: 1 << 20 };

/** Either a valid dataset, or a DatasetError (the parsers wrap whatever they meet: only a non-DatasetError fails). */
function checkDatasetOutcome(files: ModelFile[]): 'parsed' | string {
  try {
    const { set } = parseUploadedDataset(files, FUZZ_DATASET_LIMITS);
    if (set.x.length !== set.n * set.height * set.width * set.channels || set.y.length !== set.n) return 'inconsistent dataset';
    if (set.y.some((v) => v >= set.classes.length)) return 'label beyond the classes';
    return 'parsed';
  } catch (e) {
    return e instanceof DatasetError ? e.code : `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

/** Small limits so that a mutated size cannot make a case slow; still far above the seeds' needs. */
export const FUZZ_LIMITS: Partial<ReadLimits> = {
  maxTotalElements: 1 << 20, maxTensorElements: 1 << 20, maxInflatedBytes: 8 << 20, maxHeaderBytes: 1 << 20, maxZipEntries: 256, maxTensors: 1000,
};

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = (b: Uint8Array, r: () => number) => Uint8Array;
const int = (r: () => number, n: number) => Math.floor(r() * n);
/** Positions near the start matter most (magic, lengths, headers): half the picks fall in the first 256 bytes. */
const pos = (r: () => number, n: number) => (r() < 0.5 ? int(r, Math.min(n, 256)) : int(r, n));

export const MUTATIONS: Record<string, Mutation> = {
  flipBytes: (b, r) => {
    const o = b.slice();
    for (let k = 1 + int(r, 8); k > 0 && o.length; k--) {
      const at = pos(r, o.length);
      o[at] = o[at]! ^ (1 + int(r, 255));
    }
    return o;
  },
  truncate: (b, r) => b.slice(0, int(r, b.length)),
  inflateLength: (b, r) => {
    const o = b.slice();
    if (o.length < 8) return o;
    const at = pos(r, o.length - 8);
    const dv = new DataView(o.buffer);
    const width = [1, 2, 4, 8][int(r, 4)]!;
    const big = [0xff, 0xffff, 0xffffffff, 0x7fffffff, 0x80000000, 0x10000][int(r, 6)]!;
    if (width === 1) o[at] = 0xff;
    else if (width === 2) dv.setUint16(at, big & 0xffff, true);
    else if (width === 4) dv.setUint32(at, big >>> 0, true);
    else dv.setBigUint64(at, BigInt(big) << BigInt(int(r, 32)), true);
    return o;
  },
  editHeaderText: (b, r) => {
    // Rewrites a number or token inside the first text region: shapes, offsets, dtypes, lengths.
    const o = b.slice();
    const text = new TextDecoder('latin1').decode(o.subarray(0, Math.min(o.length, 4096)));
    const spots = [...text.matchAll(/\d+|'<f4'|"F32"|"float32"|true|false|True|False/g)];
    if (spots.length === 0) return o;
    const m = spots[int(r, spots.length)]!;
    const repl = ['-1', '0', '99999999999', '1.5', '4294967296', '"F8_E5M2"', "'|O'", 'null', '[]', '1e400'][int(r, 10)]!;
    const head = o.subarray(0, m.index!);
    const tail = o.subarray(m.index! + m[0].length);
    const out = new Uint8Array(head.length + repl.length + tail.length);
    out.set(head); out.set(enc(repl), head.length); out.set(tail, head.length + repl.length);
    return out;
  },
  insertGarbage: (b, r) => {
    const at = pos(r, b.length + 1);
    const g = Uint8Array.from({ length: 1 + int(r, 64) }, () => int(r, 256));
    const out = new Uint8Array(b.length + g.length);
    out.set(b.subarray(0, at)); out.set(g, at); out.set(b.subarray(at), at + g.length);
    return out;
  },
  deleteRange: (b, r) => {
    const at = pos(r, b.length);
    const n = Math.min(b.length - at, 1 + int(r, 32));
    const out = new Uint8Array(b.length - n);
    out.set(b.subarray(0, at)); out.set(b.subarray(at + n), at);
    return out;
  },
  duplicateRange: (b, r) => {
    const at = pos(r, b.length);
    const n = Math.min(b.length - at, 1 + int(r, 64));
    const out = new Uint8Array(b.length + n);
    out.set(b.subarray(0, at + n)); out.set(b.subarray(at), at + n);
    return out;
  },
};

/** Either a well-formed param set, or a FormatError that a reader threw itself (not one the safety net made). */
export function checkOutcome(files: ModelFile[], format = ''): 'parsed' | string {
  if (format.startsWith('dataset-')) return checkDatasetOutcome(files);
  let params: ParamSet;
  try {
    params = readModel(files, FUZZ_LIMITS).params;
  } catch (e) {
    if (!(e instanceof FormatError)) return `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    if (e.cause !== undefined && !(e.cause instanceof FormatError)) {
      const c = e.cause as Error;
      return `a reader let ${c?.name ?? 'an error'} through (caught by the safety net): ${c?.message ?? String(c)}`;
    }
    return e.code;
  }
  const names = new Set<string>();
  for (const t of params.tensors) {
    if (typeof t.name !== 'string' || t.name === '') return 'tensor without a name';
    if (names.has(t.name)) return `repeated tensor name '${t.name}'`;
    names.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `bad shape ${JSON.stringify(t.shape)}`;
    if (!(t.data instanceof Float32Array)) return 'data is not a Float32Array';
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== size) return `'${t.name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`;
  }
  return 'parsed';
}

export interface FuzzCase { readonly format: string; readonly seedIndex: number; readonly fileIndex: number; readonly mutation: string }

/** Runs `perFormat` mutated cases per format; reports each case before running it so a hang is attributable. */
export function runFuzz(seed: number, perFormat: number, report: (msg: unknown) => void): void {
  const r = mulberry32(seed);
  const mutationNames = Object.keys(MUTATIONS);
  const outcomes: Record<string, Record<string, number>> = {};
  for (const [format, make] of Object.entries(SEEDS)) {
    const seeds = make();
    const counts: Record<string, number> = (outcomes[format] = {});
    for (const s of seeds) {
      const clean = checkOutcome(s, format);
      if (clean !== 'parsed') report({ type: 'failure', c: { format, seedIndex: seeds.indexOf(s), fileIndex: -1, mutation: 'none' }, outcome: `valid seed did not parse: ${clean}` });
    }
    for (let i = 0; i < perFormat; i++) {
      const seedIndex = int(r, seeds.length);
      const files = seeds[seedIndex]!;
      const fileIndex = int(r, files.length);
      const mutation = mutationNames[int(r, mutationNames.length)]!;
      const c: FuzzCase = { format, seedIndex, fileIndex, mutation };
      let mutated = MUTATIONS[mutation]!(files[fileIndex]!.bytes, r);
      if (r() < 0.25) mutated = MUTATIONS[mutationNames[int(r, mutationNames.length)]!]!(mutated, r); // sometimes two
      const input = files.map((f, k) => (k === fileIndex ? { name: f.name, bytes: mutated } : f));
      report({ type: 'case', i, c });
      const t0 = performance.now();
      const outcome = checkOutcome(input, format);
      const ms = performance.now() - t0;
      const ok = outcome === 'parsed' || outcome.startsWith('WM_ERR_');
      counts[outcome] = (counts[outcome] ?? 0) + 1;
      if (!ok) report({ type: 'failure', c, outcome });
      if (ms > 1000) report({ type: 'failure', c, outcome: `took ${ms.toFixed(0)} ms` });
    }
  }
  report({ type: 'done', outcomes });
}

if (parentPort && workerData) {
  const { seed, perFormat } = workerData as { seed: number; perFormat: number };
  runFuzz(seed, perFormat, (m) => parentPort!.postMessage(m));
}
