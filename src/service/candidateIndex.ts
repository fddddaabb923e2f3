/**
 * The candidate index: every key on record, grouped by the reference model a suspect is aligned onto
 * — a trained or uploaded model for its own key, the base model for each release's licensee key (a
 * release is its base fine-tuned briefly, so the base serves as reference for all of them). Models with
 * identical files share one group. Each group's keys are packed into a key bank (core/keyBank.ts), so a
 * verification costs one alignment per distinct reference and one pass over the keys, however many
 * licensees there are.
 *
 * Built once and kept; rebuilt incrementally when a key is added (the store's key index version moves):
 * rows of keys already in a bank are copied, only new keys are unsealed. Memory: about 22 bytes per
 * key position (10,000 keys of 1,024 positions: 225 MB; each position is stored twice, in key order
 * for exact scores and in cache-blocked order for screening), plus the reference models in the params cache.
 */
import crypto from 'node:crypto';
import { buildKeyBank, scoreBank, type KeyBank } from '../core/keyBank.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { KeyRef, ModelRecord } from '../store/types.js';
import type { ServiceContext } from './context.js';
import { anchorOf, getModel, loadReference, openKey } from './models.js';

export interface IndexedKey {
  readonly keyId: string;
  readonly kind: KeyRef['kind'];
  /** The model the key is embedded in (a release's own model for a licensee key). */
  readonly modelId: string;
  readonly releaseId: string | null;
  readonly licensee: string | null;
  /**
   * The model suspects are aligned onto for this key: its group's, shared by every model with the same
   * anchor (two models watermarked from one pretrained network share it).
   */
  readonly referenceModelId: string;
  /** The model the key was made for: its own for an owner key, the released model for a licensee key (whose owner key it avoided). */
  readonly baseModelId: string;
  /** Row in the group's bank. */
  readonly row: number;
  readonly n: number;
}

export interface ReferenceGroup {
  /** sha256 over the reference model's file digests. */
  readonly digest: string;
  readonly modelId: string;
  readonly arch: string | null;
  readonly keys: readonly IndexedKey[];
  readonly bank: KeyBank;
  /** Positions of the keys whose values the reference itself carries, masked out of alignment. */
  readonly mask: WatermarkKey;
  /**
   * True when suspects are aligned onto the model's anchor (weights from before any of the group's keys
   * was drawn): the invariant stage then cannot correlate a suspect with a key and needs no inflation.
   */
  readonly anchored: boolean;
}

export interface CandidateIndex {
  readonly version: string;
  readonly groups: readonly ReferenceGroup[];
  readonly byKeyId: ReadonlyMap<string, { group: ReferenceGroup; key: IndexedKey }>;
  readonly keyCount: number;
}

const built = new WeakMap<ServiceContext, { index?: CandidateIndex; building?: Promise<CandidateIndex> }>();

/** The current index, rebuilt (once, shared by concurrent callers) when keys were added. */
export async function candidateIndex(ctx: ServiceContext): Promise<CandidateIndex> {
  const state = built.get(ctx) ?? {};
  built.set(ctx, state);
  const version = await ctx.store.keyIndexVersion();
  if (state.index?.version === version) return state.index;
  if (!state.building) {
    state.building = buildIndex(ctx, version, state.index).finally(() => {
      state.building = undefined;
    });
  }
  state.index = await state.building;
  return state.index;
}

export function modelDigest(m: ModelRecord): string {
  return crypto.createHash('sha256').update(m.files.map((f) => f.sha256).join(',')).digest('hex');
}

/** What a group is keyed by: the anchor's digest when the model has one, else the model's files. */
function referenceDigest(m: ModelRecord): string {
  const a = anchorOf(m);
  return a ? `anchor-${a.sha256}` : modelDigest(m);
}

async function buildIndex(ctx: ServiceContext, version: string, previous: CandidateIndex | undefined): Promise<CandidateIndex> {
  const started = performance.now();
  const refs = await ctx.store.listKeyRefs();
  const releases = new Map<string, { id: string; licensee: string; baseModelId: string }>();
  for (const r of (await ctx.store.listReleases({ limit: Number.MAX_SAFE_INTEGER, offset: 0 })).items) {
    if (r.releaseModelId) releases.set(r.releaseModelId, { id: r.id, licensee: r.licensee, baseModelId: r.modelId });
  }
  const models = new Map<string, ModelRecord>();
  const model = async (id: string): Promise<ModelRecord> => {
    let m = models.get(id);
    if (!m) models.set(id, (m = await getModel(ctx, id)));
    return m;
  };
  const byDigest = new Map<string, { model: ModelRecord; refs: { ref: KeyRef; release?: { id: string; licensee: string; baseModelId: string } }[] }>();
  for (const ref of refs) {
    const release = releases.get(ref.modelId);
    const reference = await model(release?.baseModelId ?? ref.modelId);
    const digest = referenceDigest(reference);
    let g = byDigest.get(digest);
    if (!g) byDigest.set(digest, (g = { model: reference, refs: [] }));
    g.refs.push({ ref, ...(release ? { release } : {}) });
  }
  const groups: ReferenceGroup[] = [];
  for (const [digest, g] of byDigest) {
    const old = previous?.groups.find((x) => x.digest === digest);
    const oldRows = new Map((old?.keys ?? []).map((k) => [k.keyId, k]));
    const keys: WatermarkKey[] = [];
    for (const { ref } of g.refs) {
      const had = oldRows.get(ref.id);
      keys.push(had ? keyFromBank(old!.bank, had.row, ref.id) : await openKeyById(ctx, ref.id));
    }
    const bank = buildKeyBank(keys);
    const indexed: IndexedKey[] = g.refs.map(({ ref, release }, row) => ({
      keyId: ref.id, kind: ref.kind, modelId: ref.modelId, releaseId: release?.id ?? null, licensee: release?.licensee ?? null,
      referenceModelId: g.model.id, baseModelId: release?.baseModelId ?? ref.modelId, row, n: ref.n,
    }));
    const reference = await loadReference(ctx, g.model);
    const anchored = anchorOf(g.model) !== undefined;
    groups.push({ digest, modelId: g.model.id, arch: g.model.arch, keys: indexed, bank, mask: embeddedMask(bank, anchored ? [] : indexed, reference, g.model, models), anchored });
  }
  const byKeyId = new Map<string, { group: ReferenceGroup; key: IndexedKey }>();
  for (const group of groups) for (const key of group.keys) byKeyId.set(key.keyId, { group, key });
  ctx.logger.info('candidate index built', { keys: refs.length, references: groups.length, ms: Math.round(performance.now() - started) });
  return { version, groups, byKeyId, keyCount: refs.length };
}

async function openKeyById(ctx: ServiceContext, id: string): Promise<WatermarkKey> {
  const rec = await ctx.store.getKey(id);
  if (!rec) throw new Error(`key '${id}' vanished while indexing`);
  return openKey(ctx, rec);
}

/** A key rebuilt from its bank row (enough to pack it again: positions, reference values, marked values). */
function keyFromBank(bank: KeyBank, row: number, id: string): WatermarkKey {
  const from = bank.offsets[row]!;
  const to = bank.offsets[row + 1]!;
  const used = [...new Set(Array.from(bank.tensorIndex.subarray(from, to)))].sort((a, b) => a - b);
  const local = new Map(used.map((t, i) => [t, i]));
  const committed = bank.committed[row] === 1;
  const ref = Array.from(bank.reference.subarray(from, to));
  return {
    format: 'weightmark-key', version: committed ? 2 : 1, id, valueKind: committed ? 'distribution-matched' : 'scale-matched',
    tensors: used.map((t) => bank.tensors[t]!), layers: used.map((t) => bank.layers[t]!),
    tensorIndex: Array.from(bank.tensorIndex.subarray(from, to), (t) => local.get(t)!), flatIndex: Array.from(bank.flatIndex.subarray(from, to)),
    values: Array.from(bank.values.subarray(from, to)), ...(committed ? { signal: ref } : {}),
  };
}

/**
 * The mask of a reference: positions of owner keys registered on a model with the reference's files
 * whose values the reference really carries (they match it as read). A random key registered on a model
 * it does not mark is left out: its positions hold nothing of it, and masking thousands of them would
 * leave alignment nothing to compare.
 */
function embeddedMask(bank: KeyBank, keys: readonly IndexedKey[], reference: ParamSet, refModel: ModelRecord, models: ReadonlyMap<string, ModelRecord>): WatermarkKey {
  const digest = modelDigest(refModel);
  const own = keys.filter((k) => k.kind === 'owner' && models.get(k.modelId) && modelDigest(models.get(k.modelId)!) === digest).map((k) => k.row);
  const scores = own.length ? scoreBank(bank, reference, { fpr: 1e-6, comparisons: 1, combination: 'min', inflation: 1, detail: 0, only: own }) : [];
  const embedded = scores.filter((s) => 'score' in s && s.score.decision === 'match').map((s) => s.key);
  // Only tensors a key can mark: a reference tensor no key touches (batch norm's) is not required of a
  // suspect, so a copy whose batch norms were folded into the convolutions still aligns.
  const keyable = new Set(bank.tensors.map((t) => t.name));
  const tensors = reference.tensors.filter((t) => keyable.has(t.name));
  const tIndex = new Map(tensors.map((t, i) => [t.name, i]));
  const seen = new Set<string>();
  const ti: number[] = [];
  const fi: number[] = [];
  for (const k of embedded) {
    for (let p = bank.offsets[k]!; p < bank.offsets[k + 1]!; p++) {
      const t = tIndex.get(bank.tensors[bank.tensorIndex[p]!]!.name);
      if (t === undefined) continue;
      const id = `${t}:${bank.flatIndex[p]}`;
      if (seen.has(id)) continue;
      seen.add(id);
      ti.push(t);
      fi.push(bank.flatIndex[p]!);
    }
  }
  return {
    format: 'weightmark-key', version: 1, id: `mask-${digest.slice(0, 12)}`, ...(refModel.arch ? { arch: refModel.arch } : {}), valueKind: 'scale-matched',
    tensors: tensors.map((t) => ({ name: t.name, shape: [...t.shape] })), tensorIndex: ti, flatIndex: fi, values: ti.map(() => 0),
  };
}
