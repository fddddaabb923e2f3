/**
 * Types of the model-file formats weightmark reads and writes. One interface for all of them:
 * ModelFile[] in, ParamSet out (see index.ts), each format in its own module.
 */
import type { ParamSet } from '../core/paramSet.js';

export type ModelFormat = 'onnx' | 'safetensors' | 'npy' | 'npz' | 'tfjs' | 'pt';
export const MODEL_FORMATS: readonly ModelFormat[] = ['onnx', 'safetensors', 'npy', 'npz', 'tfjs', 'pt'];

/** One uploaded or on-disk file. The name is used only to match references (tfjs shards, ONNX external
 * data) and to name tensors where the format has no names (.npy); the format is sniffed from bytes. */
export interface ModelFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ReadResult {
  readonly format: ModelFormat;
  readonly params: ParamSet;
}

/**
 * Bounds every reader enforces before allocating or inflating; exceeding one throws
 * WM_ERR_FORMAT_TOO_LARGE. NaN and ±Inf weights are not refused: they are read as they are, since a
 * tampered model may carry them and the verdict, not the reader, should judge it.
 */
export interface ReadLimits {
  /** Sum of the sizes of all files given. */
  readonly maxTotalBytes: number;
  readonly maxTensors: number;
  /** Rank of one tensor. */
  readonly maxDims: number;
  readonly maxTensorElements: number;
  readonly maxTotalElements: number;
  /** JSON / text headers (safetensors header, npy header, tfjs model.json). */
  readonly maxHeaderBytes: number;
  readonly maxNameLength: number;
  readonly maxZipEntries: number;
  /** Sum of the uncompressed sizes of all zip entries read (declared and actual). */
  readonly maxInflatedBytes: number;
}

export const DEFAULT_READ_LIMITS: ReadLimits = Object.freeze({
  maxTotalBytes: 1024 * 1024 * 1024,
  maxTensors: 10_000,
  maxDims: 8,
  maxTensorElements: 2 ** 28,
  maxTotalElements: 2 ** 28,
  maxHeaderBytes: 16 * 1024 * 1024,
  maxNameLength: 1024,
  maxZipEntries: 10_000,
  maxInflatedBytes: 1024 * 1024 * 1024,
});

// ---- safetensors ----------------------------------------------------------------------------------

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

// ---- NumPy ----------------------------------------------------------------------------------------

export interface NpyHeader {
  /** NumPy dtype string, e.g. '<f4'. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Byte offset of the array data from the start of the file. */
  readonly dataOffset: number;
}

// ---- zip (npz) ------------------------------------------------------------------------------------

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
  /** Offset of the entry's data (after its local header). */
  readonly dataOffset: number;
}

// ---- TensorFlow.js layers format ------------------------------------------------------------------

export type TfjsQuantizationDtype = 'uint8' | 'uint16' | 'float16';

export interface TfjsQuantization {
  readonly dtype: TfjsQuantizationDtype;
  readonly scale?: number;
  readonly min?: number;
  readonly original_dtype?: string;
}

export interface TfjsWeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: TfjsQuantization;
}

export interface TfjsWeightsGroup {
  readonly paths: readonly string[];
  readonly weights: readonly TfjsWeightEntry[];
}

export interface TfjsModelJson {
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
  readonly modelTopology: unknown;
  readonly weightsManifest: readonly TfjsWeightsGroup[];
}
