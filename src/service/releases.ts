/**
 * Releases: one per licensee. Creating one queues a job that makes a fresh licensee key and embeds it
 * by a short fine-tune of the owner's watermarked model (both keys locked). Downloading writes the
 * release in the asked format once, keeps the files, and signs a manifest — a JWS (ES256, `kid`) over
 * the sha256 of every file, the licensee, model and release ids and the issue time; never the key.
 */
import type { FileRef, ReleaseRecord, JobRecord } from '../store/types.js';
import type { JobHandler } from '../jobs/runner.js';
import { AppError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import { newJob } from './jobSubmission.js';
import { getModel, loadParams, openKey, sealKey, storeMadeModel } from './models.js';
import { newCommitment } from './commitments.js';
import { checkDatasetFits, jobCommitment } from './training.js';
import { uploadedTrainingData } from './datasets.js';
import { getArchitecture, isChain } from '../core/architectures.js';
import { TaskCancelled, type DownloadFormat, type ModelFileIn } from './ports.js';
import { importedMeta, writeImportedDownload } from './importedModels.js';

export interface ReleaseRequest {
  licensee: string;
  strategy?: 'naive' | 'delve';
  epochs?: number;
  limit?: number;
  lr?: number;
  dataset?: string;
}

export const releaseView = (r: ReleaseRecord) => ({ ...r });

export async function createRelease(ctx: ServiceContext, actor: Actor, modelId: string, req: ReleaseRequest): Promise<{ release: ReleaseRecord; job: JobRecord }> {
  const model = await getModel(ctx, modelId);
  if (!model.ownerKeyId) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${modelId}' has no owner watermark key; releases are made from a watermarked model`);
  if (!model.arch || !ctx.engines.knownArchitecture(model.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `model '${modelId}' has architecture '${model.arch ?? 'unknown'}'; releases need one of ${ctx.engines.architectures().join(', ')}`);
  }
  if (req.dataset) checkDatasetFits(model.arch, req.dataset);
  const now = new Date().toISOString();
  const job = newJob(actor, 'release', { modelId, ...req }, now);
  const release: ReleaseRecord = {
    id: newId('rel'), modelId, licensee: req.licensee, status: 'pending', jobId: job.id, keyId: null, releaseModelId: null,
    createdBy: actor.sub, createdAt: now, error: null,
  };
  (job.input as Record<string, unknown>).releaseId = release.id;
  const ownerKeyRec = await ctx.store.getKey(model.ownerKeyId);
  const c = newCommitment(ctx, actor, { subject: release.id, arch: model.arch, ...(ownerKeyRec ? { n: ownerKeyRec.n } : {}) });
  (job.input as Record<string, unknown>).commitment = c.record.digest;
  await ctx.store.write((w) => {
    c.write(w);
    w.insertJob(job);
    w.insertRelease(release);
    w.appendAudit({ actor: actor.sub, role: actor.role, action: 'release.create', target: release.id, details: { modelId, licensee: req.licensee, jobId: job.id } });
  });
  ctx.jobs.enqueue(job.id);
  return { release, job };
}

export function releaseHandler(ctx: ServiceContext): JobHandler {
  return {
    async run(job, { signal, onProgress }) {
      const input = job.input as unknown as ReleaseRequest & { modelId: string; releaseId: string; commitment: string };
      const owner = await getModel(ctx, input.modelId);
      const ownerKeyRec = owner.ownerKeyId ? await ctx.store.getKey(owner.ownerKeyId) : undefined;
      if (!ownerKeyRec) throw new Error(`model '${owner.id}' lost its owner key`);
      const ownerKey = await openKey(ctx, ownerKeyRec);
      const ownerModel = await loadParams(ctx, owner);
      const imported = importedMeta(owner);
      const keyId = newId('key');
      // a model trained on an uploaded dataset is fine-tuned on it again (unless the request names a built-in one)
      const uploaded = !input.dataset && typeof owner.meta.datasetId === 'string' ? await uploadedTrainingData(ctx, owner.meta.datasetId) : undefined;
      onProgress({ phase: 'embedding', fraction: 0 });
      const out = await ctx.executor.run(
        {
          kind: 'release', arch: owner.arch!, ...(imported ? { architecture: imported.architecture } : {}), dataset: uploaded?.id ?? input.dataset ?? String(owner.meta.dataset ?? 'mnist'),
          ...(uploaded ? { uploaded } : {}), strategy: input.strategy ?? 'naive',
          epochs: input.epochs ?? 1, ...(input.limit !== undefined ? { limit: input.limit } : {}), ...(input.lr !== undefined ? { lr: input.lr } : {}),
          licensee: input.licensee, ownerModel, ownerKey, keyId, commitment: await jobCommitment(ctx, input.commitment),
        },
        { signal, onProgress },
      );
      if (signal.aborted) throw new TaskCancelled();
      if (!out.key || !out.params) throw new Error('the release worker returned no model or no licensee key');
      const licenseeKey = out.key;
      const made = await storeMadeModel(ctx, {
        name: `${owner.name} for ${input.licensee}`, arch: owner.arch!, source: 'release', params: { ...out.params, arch: owner.arch! }, parentModelId: owner.id,
        createdBy: job.createdBy, meta: { jobId: job.id, releaseId: input.releaseId, licensee: input.licensee, ...(out.testAccuracy !== undefined ? { testAccuracy: out.testAccuracy } : {}), ...(imported ? { imported } : {}) },
      });
      const keyRecord = sealKey(ctx, made.model.id, 'licensee', licenseeKey, keyId);
      return {
        result: { releaseId: input.releaseId, releaseModelId: made.model.id, keyId, ...(out.testAccuracy !== undefined ? { testAccuracy: out.testAccuracy } : {}) },
        commit: (w) => {
          made.write(w);
          w.insertKey(keyRecord);
          w.setModelOwnerKey(made.model.id, keyId);
          w.updateRelease(input.releaseId, { status: 'ready', keyId, releaseModelId: made.model.id });
          w.appendAudit({ actor: job.createdBy, role: 'system', action: 'release.ready', target: input.releaseId, details: { releaseModelId: made.model.id, keyId, licensee: input.licensee } });
        },
      };
    },
    async onFailure(job, reason) {
      const releaseId = (job.input as { releaseId?: string }).releaseId;
      if (releaseId) await ctx.store.write((w) => w.updateRelease(releaseId, { status: 'failed', error: reason }));
    },
  };
}

export async function getRelease(ctx: ServiceContext, id: string): Promise<ReleaseRecord> {
  const r = await ctx.store.getRelease(id);
  if (!r) throw new AppError('WM_ERR_RELEASE_NOT_FOUND', `no release with id '${id}'; list releases with GET /v1/releases`);
  return r;
}

export async function listReleases(ctx: ServiceContext, q: { limit: number; offset: number; modelId?: string; licensee?: string }) {
  const { items, total } = await ctx.store.listReleases(q);
  return { items: items.map(releaseView), total, limit: q.limit, offset: q.offset };
}

export interface ReleaseDownload {
  release: ReleaseRecord;
  format: DownloadFormat;
  files: ModelFileIn[];
  refs: readonly FileRef[];
  manifestJws: string;
}

/**
 * The tensor layout of each ONNX download, stated in its manifest: 'onnx' became the standard (NCHW,
 * PyTorch) export after manifests without this field were signed for the NHWC graph, so the field tells
 * the two apart.
 */
const ONNX_LAYOUT: Partial<Record<DownloadFormat, 'standard' | 'nhwc'>> = { onnx: 'standard', 'onnx-nhwc': 'nhwc' };

/** The release's files in `format` with their signed manifest (made and kept on first request). */
export async function downloadRelease(ctx: ServiceContext, actor: Actor, id: string, format: DownloadFormat): Promise<ReleaseDownload> {
  const release = await getRelease(ctx, id);
  if (release.status !== 'ready' || !release.releaseModelId) {
    throw new AppError('WM_ERR_RELEASE_NOT_READY', `release '${id}' is ${release.status}; wait for its job '${release.jobId}' to succeed`);
  }
  let artifact = await ctx.store.getArtifact(id, format);
  if (!artifact) {
    const model = await getModel(ctx, release.releaseModelId);
    const imported = importedMeta(model);
    if (!imported && ONNX_LAYOUT[format] === 'nhwc' && !isChain(getArchitecture(model.arch!))) {
      // The NHWC graph transposes around each op of a chain; batch norm, residual sums and the shortcut have no NHWC writer.
      throw new AppError('WM_ERR_DOWNLOAD_FORMAT', `release '${id}' is a ${model.arch}: its NHWC ONNX export is not supported (that writer takes plain chains of conv, max or average pool, flatten and dense layers); download it as onnx (the standard NCHW layout), safetensors or tfjs`);
    }
    const params = await loadParams(ctx, model);
    // An imported network goes back in the licensor's own graph, names and layouts.
    const written = imported ? await writeImportedDownload(ctx, imported, params, format, `release '${id}'`) : ctx.engines.writeModel(params, format, model.arch!);
    const refs: FileRef[] = [];
    for (const f of written) refs.push(await ctx.blobs.put(f.name, f.bytes));
    const issuedAt = new Date().toISOString();
    const manifestJws = ctx.signing.signJws(
      {
        typ: 'weightmark-release-manifest', releaseId: release.id, modelId: release.modelId, releaseModelId: release.releaseModelId,
        licensee: release.licensee, format, ...(imported ? { layout: 'original' } : ONNX_LAYOUT[format] ? { layout: ONNX_LAYOUT[format] } : {}),
        files: refs.map((r) => ({ name: r.name, sha256: r.sha256, size: r.size })), issuedAt,
      },
      ctx.config.issuer,
    );
    artifact = { releaseId: id, format, files: refs, manifestJws, createdAt: issuedAt };
    const a = artifact;
    await ctx.store.write((w) => {
      w.insertArtifact(a);
      w.appendAudit({ actor: actor.sub, role: actor.role, action: 'release.sign', target: id, details: { format, files: refs, kid: ctx.signing.activeKid } });
    });
  }
  await ctx.store.write((w) => w.appendAudit({ actor: actor.sub, role: actor.role, action: 'release.download', target: id, details: { format, licensee: release.licensee } }));
  const files = [];
  for (const f of artifact.files) files.push({ name: f.name, bytes: await ctx.blobs.get(f) });
  return { release, format, files, refs: artifact.files, manifestJws: artifact.manifestJws };
}
