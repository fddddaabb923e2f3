import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { getArchitecture, registerArchitecture } from '../core/architectures.js';
import { parseKey } from '../core/keygen.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { readModel } from '../formats/index.js';
import { asCanonical, standardSpecs } from '../formats/onnx/index.js';
import { readImportedModel, type ImportedModel } from '../formats/onnx/importModel.js';
import type { ModelFile, ModelFormat } from '../formats/types.js';

/** Reads a model path: a single file, or every regular file of a folder (tfjs: model.json + shards). */
export function readModelPath(path: string): ModelFile[] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new Error(`No such file or folder: ${path}`);
  if (st.isFile()) return [{ name: basename(path), bytes: readFileSync(path) }];
  return readdirSync(path)
    .filter((f) => statSync(join(path, f)).isFile() && !f.startsWith('key') && f !== 'training.json')
    .map((f) => ({ name: f, bytes: readFileSync(join(path, f)) }));
}

/**
 * A licensor's own network: an ONNX graph that is none of ours (`path` itself, or `graph` beside a
 * state_dict at `path`), its architecture registered in this process; undefined when the files are no
 * such import (a registry network, a tfjs folder, a state_dict without --graph).
 */
export function loadImported(path: string, graph?: string): (ImportedModel & { graphBytes: Uint8Array }) | undefined {
  const files = [...readModelPath(path), ...(graph !== undefined ? readModelPath(graph) : [])];
  let imported: ImportedModel | undefined;
  try {
    imported = readImportedModel(files);
  } catch (e) {
    throw new Error(`${graph ?? path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!imported) return undefined;
  registerArchitecture(imported.architecture);
  return { ...imported, graphBytes: files.find((f) => f.name === imported.graphFile)!.bytes };
}

/** A key file (--key), every failure naming the file: missing, not JSON (a model given by mistake), not a key. */
export function loadKeyFile(path: string): WatermarkKey {
  if (!existsSync(path)) throw new Error(`Key file not found: ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`Key file ${path} is not JSON (${e instanceof Error ? e.message : String(e)}); expected a weightmark key as written by 'weightmark train'`);
  }
  try {
    return parseKey(json);
  } catch (e) {
    throw new Error(`Key file ${path} is not a weightmark key: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A model file or folder in any format the readers know, every failure naming the path. */
export function loadModel(path: string, archName?: string): { params: ParamSet; format: ModelFormat } {
  let read: { params: ParamSet; format: ModelFormat };
  try {
    read = readModel(readModelPath(path));
  } catch (e) {
    throw new Error(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { format: read.format, params: archName && !read.params.arch ? { ...read.params, arch: archName } : read.params };
}

/**
 * The reference model of extract (--reference), in the key's canonical tensors: any format the readers
 * know, in our names and layouts (our exports, anchor.safetensors) or in PyTorch's (a state_dict as
 * safetensors, npz or .pt, torch.onnx.export), which is converted exactly. The invariant stage compares
 * the suspect's units with these, so they are not guessed by alignment.
 * @throws Error naming the file: unreadable, or holding neither layout of the key's architecture.
 */
export function loadReference(path: string, key: WatermarkKey, archName: string | undefined): ParamSet {
  const { params, format } = loadModel(path);
  const names = new Set(params.tensors.map((t) => t.name));
  if (key.tensors.every((k) => names.has(k.name))) return params;
  const arch = archName ? getArchitecture(archName) : undefined;
  const converted = arch ? asCanonical(params.tensors, arch, 'standard') : undefined;
  if (converted) return converted;
  const has = params.tensors.map((t) => `${t.name} [${t.shape.join(',')}]`).join(', ');
  throw new Error(
    `Reference ${path} (${format}) holds neither the key's tensors (${key.tensors.map((k) => k.name).join(', ')}) nor ` +
      (arch ? `${arch.name}'s in PyTorch names and layouts (${standardSpecs(arch).map((t) => `${t.name} [${t.shape.join(',')}]`).join(', ')})` : "a known architecture's in PyTorch names and layouts (give --arch)") +
      `; it has: ${has}`,
  );
}
