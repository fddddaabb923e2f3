/**
 * Models: register an uploaded model (optionally with the owner's watermark key), list and read them,
 * export a key (admin only), and load a model's param set or a key for the other use cases.
 */
import crypto from 'node:crypto';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { FileRef, KeyRecord, ModelRecord, StoreWriter } from '../store/types.js';
import { AppError, fromFormatError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import type { ModelFileIn } from './ports.js';
import { registerArchitecture } from '../core/architectures.js';
import { readImportedModel, type ImportedModel } from '../formats/onnx/importModel.js';
import { importedMeta, importedMetaOf, importedParams, type ImportedMeta } from './importedModels.js';

export interface ModelView {
  id: string;
  name: string;
  arch: string | null;
  source: ModelRecord['source'];
  format: string;
  files: readonly FileRef[];
  paramCount: number;
  ownerKeyId: string | null;
  parentModelId: string | null;
  createdBy: string;
  createdAt: string;
  meta: Readonly<Record<string, unknown>>;
}

export const modelView = (m: ModelRecord): ModelView => ({ ...m });

/**
 * A model as a list entry: an imported model's graph and origin map (one entry per layer and per tensor,
 * tens of kB for a real network) stay on GET /v1/models/{id}; the list names the network and links there.
 */
export function modelListView(m: ModelRecord): ModelView {
  const imported = (m.meta as { imported?: ImportedMeta }).imported;
  if (!imported) return modelView(m);
  const { name, description } = imported.architecture;
  return { ...m, meta: { ...m.meta, imported: { architecture: { name, description }, weights: imported.weights, detail: `/v1/models/${m.id}` } } };
}

/**
 * Reads uploaded files into a param set (canonical, when `arch` names the architecture of a PyTorch
 * state_dict). @throws AppError (4xx) for anything wrong with the files.
 */
export function readUploadedModel(ctx: ServiceContext, files: readonly ModelFileIn[], arch?: string): { format: string; params: ParamSet } {
  if (files.length === 0) throw new AppError('WM_ERR_UPLOAD_MISSING_FILE', "attach the model as one or more multipart parts named 'file'");
  try {
    return ctx.engines.readModel(files, arch);
  } catch (e) {
    throw fromFormatError(e) ?? e;
  }
}

function parseUploadedKey(ctx: ServiceContext, raw: Uint8Array | string, params: ParamSet): WatermarkKey {
  let key: WatermarkKey;
  try {
    key = ctx.engines.parseKey(JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')));
  } catch (e) {
    throw new AppError('WM_ERR_KEY_MALFORMED', `the 'key' part is not a valid weightmark key: ${(e as Error).message}`);
  }
  try {
    ctx.engines.extractValues(params, key);
  } catch (e) {
    throw new AppError('WM_ERR_KEY_MALFORMED', `the key does not fit the uploaded model: ${(e as Error).message}`);
  }
  return key;
}

export async function registerUploadedModel(
  ctx: ServiceContext,
  actor: Actor,
  input: { name?: string; arch?: string; files: readonly ModelFileIn[]; key?: Uint8Array | string },
): Promise<ModelView> {
  // Only built-in names: an imported architecture comes with its graph (uploaded without `arch`).
  if (input.arch && !ctx.engines.architectures().includes(input.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `architecture '${input.arch}' is unknown; supported: ${ctx.engines.architectures().join(', ')}`);
  }
  const imported = input.arch ? undefined : readImport(input.files);
  const { format, params } = imported ?? readUploadedModel(ctx, input.files, input.arch);
  const key = input.key !== undefined ? parseUploadedKey(ctx, input.key, params) : undefined;
  const refs: FileRef[] = [];
  for (const f of input.files) refs.push(await ctx.blobs.put(f.name, f.bytes));
  const id = newId('mdl');
  const keyRecord = key ? sealKey(ctx, id, 'owner', key) : undefined;
  const model: ModelRecord = {
    id,
    name: input.name || input.files[0]!.name,
    arch: input.arch ?? imported?.architecture.name ?? params.arch ?? null,
    source: 'upload',
    format,
    files: refs,
    paramCount: params.tensors.reduce((a, t) => a + t.data.length, 0),
    ownerKeyId: keyRecord?.id ?? null,
    parentModelId: null,
    createdBy: actor.sub,
    createdAt: new Date().toISOString(),
    meta: imported ? { imported: importedMetaOf(imported, input.files, refs) } : {},
  };
  if (imported) registerArchitecture(imported.architecture);
  await ctx.store.write((w) => {
    w.insertModel({ ...model, ownerKeyId: null });
    if (keyRecord) {
      w.insertKey(keyRecord);
      w.setModelOwnerKey(id, keyRecord.id);
    }
    w.appendAudit({
      actor: actor.sub, role: actor.role, action: 'model.register', target: id,
      details: { name: model.name, format, files: refs, ...(keyRecord ? { keyId: keyRecord.id } : {}) },
    });
  });
  ctx.cache.params.set(id, { ...params, ...(model.arch ? { arch: model.arch } : {}) });
  return modelView(model);
}

/**
 * An upload of a graph that is not a built-in architecture, as an imported network (its state_dict
 * matched to the graph when one came with it); undefined when the files hold no single ONNX graph, or
 * hold one whose ops the engines cannot train and no state_dict (such a model is still registered,
 * for verification, as its tensors). @throws AppError 422 for a state_dict that does not fit its graph.
 */
function readImport(files: readonly ModelFileIn[]): (ImportedModel & { format: string }) | undefined {
  try {
    const m = readImportedModel(files);
    return m && { ...m, format: m.weights };
  } catch (e) {
    // A graph alone that cannot be imported is still a model to verify against, as before imports.
    const graphAlone = files.length === 1;
    if (graphAlone && (e as { code?: string }).code === 'WM_ERR_GRAPH_UNSUPPORTED') return undefined;
    throw fromFormatError(e) ?? e;
  }
}

/** Seals a watermark key with the master key (AAD = the key record's id). */
export function sealKey(ctx: ServiceContext, modelId: string, kind: KeyRecord['kind'], key: WatermarkKey, id: string = newId('key')): KeyRecord {
  return { id, modelId, kind, sealed: ctx.keystore.seal(ctx.engines.serializeKey(key), id), n: key.values.length, createdAt: new Date().toISOString() };
}

/** Records a model the service made (training or release): the param set is stored as safetensors. */
export async function storeMadeModel(
  ctx: ServiceContext,
  input: { name: string; arch: string; source: 'training' | 'release'; params: ParamSet; parentModelId?: string; createdBy: string; meta: Record<string, unknown> },
): Promise<{ model: ModelRecord; write: (w: StoreWriter) => void }> {
  const [file] = ctx.engines.writeModel(input.params, 'safetensors', input.arch);
  const ref = await ctx.blobs.put('model.safetensors', file!.bytes);
  const model: ModelRecord = {
    id: newId('mdl'), name: input.name, arch: input.arch, source: input.source, format: 'safetensors', files: [ref],
    paramCount: input.params.tensors.reduce((a, t) => a + t.data.length, 0), ownerKeyId: null, parentModelId: input.parentModelId ?? null,
    createdBy: input.createdBy, createdAt: new Date().toISOString(), meta: input.meta,
  };
  return { model, write: (w) => w.insertModel(model) };
}

/** A model record; an imported model's architecture is registered in this process on the way. */
export async function getModel(ctx: ServiceContext, id: string): Promise<ModelRecord> {
  const m = await ctx.store.getModel(id);
  if (!m) throw new AppError('WM_ERR_MODEL_NOT_FOUND', `no model with id '${id}'; list models with GET /v1/models`);
  importedMeta(m);
  return m;
}

export async function listModels(ctx: ServiceContext, page: { limit: number; offset: number }) {
  const { items, total } = await ctx.store.listModels(page);
  return { items: items.map(modelListView), total, limit: page.limit, offset: page.offset };
}

/** A model's param set, from the cache or its files. */
export async function loadParams(ctx: ServiceContext, model: ModelRecord): Promise<ParamSet> {
  const hit = ctx.cache.params.get(model.id);
  if (hit) return hit;
  const files = [];
  for (const f of model.files) files.push({ name: f.name, bytes: await ctx.blobs.get(f) });
  // An imported upload keeps the licensor's files: read through its graph (releases are stored canonical).
  const imported = importedMeta(model);
  const { params } = model.source === 'upload' && imported ? { params: importedParams(files, model) } : ctx.engines.readModel(files, model.arch ?? undefined);
  const set = { ...params, ...(model.arch ? { arch: model.arch } : {}) };
  ctx.cache.params.set(model.id, set);
  return set;
}

/**
 * Stores a training run's alignment anchor (its weights just before the key was drawn) as a blob; the
 * model's meta records the reference. Suspects are realigned onto it, not onto the model: the model's
 * weights co-adapted with the locked values, so aligning onto them would correlate an independent
 * suspect with the key (docs/statistics.md).
 */
export async function storeAnchor(ctx: ServiceContext, anchor: ParamSet, arch: string): Promise<FileRef> {
  const [file] = ctx.engines.writeModel(anchor, 'safetensors', arch);
  return ctx.blobs.put('anchor.safetensors', file!.bytes);
}

/** The model's alignment anchor, when its training recorded one. */
export function anchorOf(model: ModelRecord): FileRef | undefined {
  const a = (model.meta as { anchor?: unknown }).anchor as Partial<FileRef> | undefined;
  return a && typeof a.sha256 === 'string' && typeof a.name === 'string' && typeof a.size === 'number' ? (a as FileRef) : undefined;
}

/** What suspects are aligned onto for keys of this model: its anchor when it has one, else the model. */
export async function loadReference(ctx: ServiceContext, model: ModelRecord): Promise<ParamSet> {
  const anchor = anchorOf(model);
  if (!anchor) return loadParams(ctx, model);
  const id = `anchor:${anchor.sha256}`;
  const hit = ctx.cache.params.get(id);
  if (hit) return hit;
  const { params } = ctx.engines.readModel([{ name: anchor.name, bytes: await ctx.blobs.get(anchor) }]);
  const set = { ...params, ...(model.arch ? { arch: model.arch } : {}) };
  ctx.cache.params.set(id, set);
  return set;
}

export async function openKey(ctx: ServiceContext, rec: KeyRecord): Promise<WatermarkKey> {
  const hit = ctx.cache.keys.get(rec.id);
  if (hit) return hit;
  const key = ctx.engines.parseKey(JSON.parse(ctx.keystore.open(rec.sealed, rec.id)));
  ctx.cache.keys.set(rec.id, key);
  return key;
}

/** Exports a model's watermark key: the secret leaves the service, so only admins may, and it is audited. */
export async function exportModelKey(ctx: ServiceContext, actor: Actor, modelId: string): Promise<{ keyId: string; key: WatermarkKey }> {
  if (actor.role !== 'admin') throw new AppError('WM_ERR_FORBIDDEN', 'only the admin role may export a watermark key');
  const model = await getModel(ctx, modelId);
  const keyId = model.ownerKeyId ?? (await ctx.store.listKeys()).find((k) => k.modelId === model.id)?.id;
  if (!keyId) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${modelId}' has no watermark key to export`);
  const rec = await ctx.store.getKey(keyId);
  if (!rec) throw new AppError('WM_ERR_KEY_NOT_FOUND', `key '${keyId}' is missing`);
  const key = await openKey(ctx, rec);
  await ctx.store.write((w) =>
    w.appendAudit({ actor: actor.sub, role: actor.role, action: 'key.export', target: keyId, details: { modelId, digest: crypto.createHash('sha256').update(rec.sealed).digest('hex') } }),
  );
  return { keyId, key };
}
