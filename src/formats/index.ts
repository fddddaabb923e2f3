/**
 * Model files ⇄ param set. `readModel` sniffs each file by content, picks the format and dispatches to
 * its reader; `writeModel` writes a param set in a chosen format. Every reader throws only FormatError
 * for bad input (see errors.ts), and enforces ReadLimits before it allocates.
 *
 * Zero-copy: float32 tensors are often views on the input bytes. Keep the input buffers unchanged while
 * the param set is in use (cloneParamSet when in doubt).
 */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import type { Architecture } from '../core/architectures.js';
import { FormatError, guardRead } from './errors.js';
import { ReadBudget, checkTotalBytes } from './common.js';
import { firstBytes, sniffFormat } from './sniff.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { readNpy, writeNpy } from './npy.js';
import { readNpz, writeNpz } from './npz.js';
import { readPt, writePt } from './pt.js';
import { readTfjs, writeTfjs } from './tfjs.js';
import { readOnnx } from './onnx/read.js';
import { writeOnnx } from './onnx/write.js';
import { DEFAULT_READ_LIMITS, MODEL_FORMATS, type ModelFile, type ModelFormat, type ReadLimits, type ReadResult } from './types.js';

export { FormatError, FORMAT_ERRORS, type FormatErrorCode, isFormatError } from './errors.js';
export { DEFAULT_READ_LIMITS, MODEL_FORMATS, type ModelFile, type ModelFormat, type ReadLimits, type ReadResult } from './types.js';
export { sniffFormat } from './sniff.js';
export { readModelFiles } from './files.js';

/**
 * What writeModel writes: every format readModel reads, plus 'onnx-nhwc', our NHWC graph with the
 * canonical tensors. 'onnx' is the standard (PyTorch-layout, NCHW) export; both read back as 'onnx'.
 */
export type WriteFormat = ModelFormat | 'onnx-nhwc';
export const WRITE_FORMATS: readonly WriteFormat[] = ['onnx', 'onnx-nhwc', 'safetensors', 'npy', 'npz', 'tfjs', 'pt'];

/**
 * Reads a model from its files. The format comes from content: one tfjs model.json makes the rest its
 * shards; one ONNX model makes the rest its external data (by name); otherwise every file must be the
 * same one of safetensors / npy / npz / pt (a torch.save zip checkpoint) and their tensors are merged
 * (sharded safetensors, one .npy per tensor named after its file without '.npy').
 * @throws FormatError WM_ERR_FORMAT_UNKNOWN when no file is recognised or formats are mixed, TOO_LARGE
 * past maxTotalBytes, MALFORMED on repeated tensor names, and any error of the chosen reader.
 */
export function readModel(files: readonly ModelFile[], opts: Partial<ReadLimits> = {}): ReadResult {
  const limits: ReadLimits = { ...DEFAULT_READ_LIMITS, ...opts };
  if (files.length === 0) throw new FormatError('WM_ERR_FORMAT_UNKNOWN', 'No model file was given');
  checkTotalBytes(files.reduce((a, f) => a + f.bytes.length, 0), limits);
  const sniffed = files.map((f) => sniffFormat(f.bytes));

  if (sniffed.includes('tfjs')) return { format: 'tfjs', params: readTfjs(files, limits) };

  const onnx = files.filter((_, i) => sniffed[i] === 'onnx');
  if (onnx.length > 1) {
    throw new FormatError('WM_ERR_FORMAT_UNKNOWN', `Several ONNX models were given (${onnx.map((f) => f.name).join(', ')}); upload one model with its external data files`);
  }
  if (onnx.length === 1) {
    const model = onnx[0]!;
    const externalData = new Map<string, Uint8Array>();
    // Keyed by base name (the reader also matches a location's base name); full names only on a clash.
    const others = files.filter((f) => f !== model);
    const base = (n: string) => n.slice(n.lastIndexOf('/') + 1);
    for (const f of others) {
      const clash = others.some((g) => g !== f && base(g.name) === base(f.name));
      externalData.set(clash ? f.name : base(f.name), f.bytes);
    }
    return { format: 'onnx', params: guardRead('ONNX', () => readOnnx(model.bytes, { externalData, limits })) };
  }

  const unknown = files.findIndex((_, i) => sniffed[i] === undefined);
  if (unknown >= 0) {
    const f = files[unknown]!;
    throw new FormatError(
      'WM_ERR_FORMAT_UNKNOWN',
      `File '${f.name}' (${f.bytes.length} bytes, starting ${firstBytes(f.bytes)}) is not a recognised model format. Supported formats are ${MODEL_FORMATS.join(', ')}.`,
    );
  }
  const format = sniffed[0]!;
  if (sniffed.some((s) => s !== format)) {
    throw new FormatError('WM_ERR_FORMAT_UNKNOWN', `The files mix formats (${files.map((f, i) => `${f.name}: ${sniffed[i]}`).join(', ')}); upload one model in one format`);
  }
  const budget = new ReadBudget(limits);
  const tensors: ParamTensor[] = [];
  for (const f of files) {
    switch (format) {
      case 'safetensors': tensors.push(...readSafetensors(f.bytes, limits, budget).tensors); break;
      case 'npz': tensors.push(...readNpz(f.bytes, limits, budget).tensors); break;
      case 'pt': tensors.push(...readPt(f.bytes, limits, budget).tensors); break;
      case 'npy': tensors.push(readNpy(f.bytes, npyTensorName(f.name), limits, budget)); break;
    }
  }
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new FormatError('WM_ERR_FORMAT_MALFORMED', `Tensor '${t.name}' appears in more than one of the files`);
    seen.add(t.name);
  }
  return { format, params: { tensors } };
}

/** The file name without '.npy' (a name, never opened as a path: `conv1/kernel.npy` → `conv1/kernel`). */
function npyTensorName(fileName: string): string {
  const name = fileName.endsWith('.npy') ? fileName.slice(0, -4) : fileName;
  return name || 'tensor';
}

/**
 * Writes a param set in `format`. safetensors, npz (stored entries) and npy (one file per tensor) need no
 * architecture; tfjs and onnx do (topology / graph), and pt (the PyTorch state_dict's names and layouts). 'onnx' is the standard export (input NCHW, PyTorch
 * layouts and names), 'onnx-nhwc' the NHWC one (see onnx/layout.ts). @throws Error when a needed
 * architecture is missing or the set does not fit it.
 */
export function writeModel(set: ParamSet, format: WriteFormat, arch?: Architecture): ModelFile[] {
  switch (format) {
    case 'safetensors': return [{ name: 'model.safetensors', bytes: writeSafetensors(set) }];
    case 'npz': return [{ name: 'model.npz', bytes: writeNpz(set) }];
    case 'npy': return set.tensors.map((t) => ({ name: `${t.name}.npy`, bytes: writeNpy(t) }));
    case 'tfjs':
      if (!arch) throw new Error('writeModel: the tfjs format needs the architecture (its model.json carries the topology)');
      return writeTfjs(set, arch);
    case 'pt':
      if (!arch) throw new Error('writeModel: the pt format needs the architecture (the PyTorch names and layouts come from it)');
      return [{ name: 'model.pt', bytes: writePt(set, arch) }];
    case 'onnx':
    case 'onnx-nhwc':
      if (!arch) throw new Error(`writeModel: the ${format} format needs the architecture (the graph is built from it)`);
      return format === 'onnx'
        ? [{ name: 'model.onnx', bytes: writeOnnx(set, arch) }]
        : [{ name: 'model-nhwc.onnx', bytes: writeOnnx(set, arch, { layout: 'nhwc' }) }];
  }
}
