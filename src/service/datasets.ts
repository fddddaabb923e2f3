/**
 * Uploaded datasets ("bring your own data"): register an upload (parse → validate → canonical bytes
 * stored content-addressed → record + audit event), list and read records, and load a dataset for a
 * training job (decoded once per process, cached).
 */
import type { DatasetRecord } from '../store/types.js';
import type { ImageSet, DatasetLimits } from '../data/imageSet.js';
import { DEFAULT_DATASET_LIMITS, decodeCanonical } from '../data/imageSet.js';
import { DEFAULT_HOLDOUT, HOLDOUT_RANGE } from '../data/uploadedDataset.js';
import { parseUploadOffThread } from '../jobs/datasetParser.js';
import { AppError, fromFormatError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import type { ModelFileIn, UploadedTrainingData } from './ports.js';

export type DatasetView = DatasetRecord;

/** The parsers' bounds from the service's configuration. */
export function datasetLimits(ctx: ServiceContext): DatasetLimits {
  return { ...DEFAULT_DATASET_LIMITS, maxSamples: ctx.config.datasetMaxSamples, maxDecodedBytes: ctx.config.datasetMaxBytes };
}

/** The request's `holdout` form field. @throws AppError WM_ERR_VALIDATION outside HOLDOUT_RANGE. */
export function parseHoldout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_HOLDOUT;
  const v = Number(raw);
  if (!(v >= HOLDOUT_RANGE[0] && v <= HOLDOUT_RANGE[1])) {
    throw new AppError('WM_ERR_VALIDATION', `holdout is the share of each class held out for evaluation, a number in [${HOLDOUT_RANGE.join(', ')}]; got '${raw.slice(0, 40)}'`);
  }
  return v;
}

/**
 * Registers an uploaded dataset, or finds the one of identical content (created: false; the first
 * upload's name and held-out split stand).
 * @throws AppError: WM_ERR_UPLOAD_MISSING_FILE, WM_ERR_DATASET_* (4xx) for anything wrong with the files.
 */
export async function registerUploadedDataset(
  ctx: ServiceContext, actor: Actor, input: { files: readonly ModelFileIn[]; name?: string; holdout?: number },
): Promise<{ dataset: DatasetView; created: boolean }> {
  if (input.files.length === 0) throw new AppError('WM_ERR_UPLOAD_MISSING_FILE', "attach the dataset as a multipart part named 'file' (one .zip or .npz, or two IDX files)");
  let parsed;
  try {
    parsed = await parseUploadOffThread(input.files, datasetLimits(ctx), input.holdout ?? DEFAULT_HOLDOUT);
  } catch (e) {
    throw fromFormatError(e) ?? e;
  }
  const { canonical, summary } = parsed;
  const existing = await ctx.store.getDatasetByDigest(summary.digest);
  if (existing) return { dataset: existing, created: false };
  const file = await ctx.blobs.put('dataset.bin', canonical);
  const record: DatasetRecord = {
    id: newId('ds'), name: input.name || input.files[0]!.name, format: parsed.format, file, ...summary, createdBy: actor.sub, createdAt: new Date().toISOString(),
  };
  try {
    await ctx.store.write((w) => {
      w.insertDataset(record);
      w.appendAudit({
        actor: actor.sub, role: actor.role, action: 'dataset.register', target: record.id,
        details: { name: record.name, format: record.format, digest: record.digest, shape: record.shape, samples: record.samples, classes: record.classes.length, split: record.split },
      });
    });
  } catch (e) {
    // the same content uploaded at the same moment: the other request's record won the unique digest
    const winner = await ctx.store.getDatasetByDigest(summary.digest);
    if (winner) return { dataset: winner, created: false };
    throw e;
  }
  ctx.cache.datasets.set(record.id, parsed.set);
  return { dataset: record, created: true };
}

export async function getDataset(ctx: ServiceContext, id: string): Promise<DatasetRecord> {
  const d = await ctx.store.getDataset(id);
  if (!d) throw new AppError('WM_ERR_DATASET_NOT_FOUND', `no dataset with id '${id}'; list datasets with GET /v1/datasets`);
  return d;
}

export async function listDatasets(ctx: ServiceContext, page: { limit: number; offset: number }) {
  const { items, total } = await ctx.store.listDatasets(page);
  return { items, total, limit: page.limit, offset: page.offset };
}

/** A dataset's decoded images and labels, from the cache or its blob (digest-checked by the blob store). */
export async function loadImageSet(ctx: ServiceContext, record: DatasetRecord): Promise<ImageSet> {
  const hit = ctx.cache.datasets.get(record.id);
  if (hit) return hit;
  const set = decodeCanonical(await ctx.blobs.get(record.file));
  ctx.cache.datasets.set(record.id, set);
  return set;
}

/** An uploaded dataset as a training or release task carries it to the worker process (decoded once per process, cached). */
export async function uploadedTrainingData(ctx: ServiceContext, datasetId: string): Promise<UploadedTrainingData> {
  const record = await getDataset(ctx, datasetId);
  return { id: record.id, set: await loadImageSet(ctx, record), split: record.split, mean: record.mean, std: record.std };
}
