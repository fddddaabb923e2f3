/**
 * Models imported from a licensor's own network (ONNX graph, optionally with its PyTorch state_dict):
 * the architecture and the origin map live in the model record's `meta.imported`, so every process
 * that loads the record can resolve the architecture by name and write the weights back in the
 * licensor's names and layouts. Releases of an imported model carry the same meta.
 */
import { registerArchitecture, type Architecture } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import { importedArchitectureName } from '../formats/onnx/importGraph.js';
import { readImportedModel, type ImportedModel, type ImportedWeights } from '../formats/onnx/importModel.js';
import { ORIGINAL_FORMATS, writeOriginal, type OriginalFormat } from '../formats/onnx/writeOriginal.js';
import type { OriginMap } from '../formats/onnx/origin.js';
import type { FileRef, ModelRecord } from '../store/types.js';
import { AppError } from './errors.js';
import type { ServiceContext } from './context.js';
import type { ModelFileIn } from './ports.js';

export interface ImportedMeta {
  readonly architecture: Architecture;
  readonly origin: OriginMap;
  /** The uploaded ONNX graph: `format=onnx` downloads are this file with new initializer values. */
  readonly graph: FileRef;
  readonly weights: ImportedWeights;
}

/** The meta.imported of a model registered from `files` (their refs in the same order). */
export function importedMetaOf(m: ImportedModel, files: readonly ModelFileIn[], refs: readonly FileRef[]): ImportedMeta {
  return { architecture: m.architecture, origin: m.origin, graph: refs[files.findIndex((f) => f.name === m.graphFile)]!, weights: m.weights };
}

/**
 * The imported network of a model record, its architecture registered in this process; undefined for
 * a model that was not imported.
 * @throws Error when the stored architecture does not hash to its name (a record altered after the fact).
 */
export function importedMeta(model: ModelRecord): ImportedMeta | undefined {
  const m = (model.meta as { imported?: ImportedMeta }).imported;
  if (!m) return undefined;
  const { name, description: _, ...body } = m.architecture;
  if (importedArchitectureName(body) !== name) throw new Error(`model '${model.id}': its imported architecture does not hash to its name '${name}'`);
  registerArchitecture(m.architecture);
  return m;
}

/** The canonical params of an uploaded imported model, read again from its stored original files. */
export function importedParams(files: readonly ModelFileIn[], model: ModelRecord): ParamSet {
  const m = readImportedModel(files);
  if (!m) throw new Error(`model '${model.id}': its files no longer import as its graph`);
  return m.params;
}

/**
 * A release of an imported model in the licensor's format.
 * @throws AppError WM_ERR_DOWNLOAD_FORMAT for the formats an imported network is not written in.
 */
export async function writeImportedDownload(ctx: ServiceContext, meta: ImportedMeta, params: ParamSet, format: string, what: string): Promise<ModelFileIn[]> {
  if (!ORIGINAL_FORMATS.includes(format as OriginalFormat)) {
    throw new AppError('WM_ERR_DOWNLOAD_FORMAT', `${what} is a network imported from ONNX: it is written back in the licensor's names and layouts as ${ORIGINAL_FORMATS.join(', ')}; '${format}' is not offered`);
  }
  return writeOriginal(format as OriginalFormat, params, meta.origin, await ctx.blobs.get(meta.graph));
}
