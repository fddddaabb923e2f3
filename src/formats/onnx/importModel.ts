/**
 * An uploaded licensor's model as an imported network: one ONNX graph (importGraph.ts), its weights
 * either the graph's own initializers or a PyTorch state_dict uploaded beside it (.pt or safetensors),
 * matched to the graph by the initializers' names — a training-mode export carries the state_dict's
 * names (`conv1.weight`, `bn1.running_mean`); an eval-mode export folds the norms and renames them.
 */
import { FormatError } from '../errors.js';
import { readModel } from '../index.js';
import { sniffFormat } from '../sniff.js';
import type { ModelFile } from '../types.js';
import { importOnnxGraph, type ImportedGraph } from './importGraph.js';
import { requireFromOriginal } from './origin.js';

export type ImportedWeights = 'onnx' | 'pt' | 'safetensors';

export interface ImportedModel extends ImportedGraph {
  /** Where the weights were read from. */
  readonly weights: ImportedWeights;
  /** The ONNX file among the uploaded ones. */
  readonly graphFile: string;
}

export const EXPORT_HINT = 'Export the graph from the same model in training mode, which keeps the batch norms and the state_dict names: torch.onnx.export(model, x, "model.onnx", training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)';

/**
 * The imported network of an upload, or undefined when the files are not exactly one ONNX graph (plus
 * at most a state_dict) or are our own export of a built-in architecture (read as that architecture).
 * @throws FormatError WM_ERR_GRAPH_UNSUPPORTED naming the op and node the graph cannot be imported at;
 * WM_ERR_FORMAT_UNSUPPORTED when the state_dict's names or shapes do not match the graph's
 * initializers (with how to export); the readers' own errors for broken files.
 */
export function readImportedModel(files: readonly ModelFile[]): ImportedModel | undefined {
  const sniffed = files.map((f) => sniffFormat(f.bytes));
  const graphs = files.filter((_, i) => sniffed[i] === 'onnx');
  const stateDicts = files.filter((_, i) => sniffed[i] === 'pt' || sniffed[i] === 'safetensors');
  // Anything else beside them (external tensor data) is not an import: the graph is read as tensors.
  if (graphs.length !== 1 || stateDicts.length > 1 || files.length !== 1 + stateDicts.length) return undefined;
  const graph = graphs[0]!;
  if (readModel([graph]).params.arch !== undefined) return undefined;
  const imported = importOnnxGraph(graph.bytes);
  if (stateDicts.length === 0) return { ...imported, weights: 'onnx', graphFile: graph.name };
  const file = stateDicts[0]!;
  const read = readModel([file]);
  if (read.format !== 'pt' && read.format !== 'safetensors') throw new FormatError('WM_ERR_FORMAT_UNKNOWN', `'${file.name}' is no state_dict`);
  const params = requireFromOriginal(read.params.tensors, imported.origin, `the state_dict '${file.name}'`, EXPORT_HINT);
  // PyTorch's batch-norm step counters are no parameters of ours, but the licensee's checkpoint had them.
  const counters = read.params.tensors.filter((t) => t.name.endsWith('.num_batches_tracked') && t.data.length === 1).map((t) => ({ name: t.name, value: t.data[0]! }));
  return {
    architecture: imported.architecture,
    params: { ...params, arch: imported.architecture.name },
    origin: { ...imported.origin, ...(counters.length ? { counters } : {}) },
    weights: read.format,
    graphFile: graph.name,
  };
}
