/** The dataset-parsing worker thread: decodes and checks one upload at a time (see datasetParser.ts). */
import { parentPort } from 'node:worker_threads';
import { parseUploadedDataset, summarise, type NamedBytes } from '../data/uploadedDataset.js';
import type { DatasetLimits } from '../data/imageSet.js';

parentPort!.on('message', (m: { id: number; files: NamedBytes[]; limits: DatasetLimits; holdout: number }) => {
  try {
    const { format, set } = parseUploadedDataset(m.files, m.limits);
    const { canonical, summary } = summarise(set, m.holdout);
    // the pixels and the canonical bytes move to the parent; nothing is copied back
    const transfer = [...new Set([set.x.buffer, set.y.buffer, canonical.buffer])].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    parentPort!.postMessage({ id: m.id, format, set, canonical, summary }, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: { code: (e as { code?: unknown }).code, message: (e as Error).message ?? String(e) } });
  }
});
