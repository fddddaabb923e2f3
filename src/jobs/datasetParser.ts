/**
 * Parses uploaded datasets off the request thread: decoding tens of thousands of PNGs or JPEGs takes
 * seconds (10,000 28x28 PNGs: 0.8 s on these machines), which would stall every other request. One
 * worker thread, started on first use, takes uploads one at a time (uploads are rare and each is
 * CPU-bound: more threads would only compete with training). The upload's bytes are shared memory
 * (src/http/uploads.ts), so nothing is copied on the way in; the decoded pixels are transferred back.
 * The thread is unref'd: it never keeps the process alive, and one that died is replaced on the next upload.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { DatasetLimits, ImageSet } from '../data/imageSet.js';
import type { DatasetSummary, NamedBytes, UploadedFormat } from '../data/uploadedDataset.js';
import { DatasetError, type DatasetErrorCode } from '../data/datasetErrors.js';

// the verification workers' bootstrap is generic: it loads tsx when the entry is TypeScript, then the entry
const BOOTSTRAP = fileURLToPath(new URL('./verifyWorkerBootstrap.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './datasetWorker.ts' : './datasetWorker.js', import.meta.url));

export interface ParsedUpload {
  readonly format: UploadedFormat;
  readonly set: ImageSet;
  readonly canonical: Uint8Array;
  readonly summary: DatasetSummary;
}

type Reply = ParsedUpload & { id: number; error?: { code?: string; message: string } };

let worker: Worker | undefined;
let queue: Promise<unknown> = Promise.resolve();
let next = 0;

function spawn(): Worker {
  const w = new Worker(BOOTSTRAP, { workerData: { entry: ENTRY } });
  w.unref();
  // a worker that died (out of memory on a huge upload) is replaced on the next upload
  w.on('exit', () => {
    if (worker === w) worker = undefined;
  });
  return w;
}

function parseOnce(files: readonly NamedBytes[], limits: DatasetLimits, holdout: number): Promise<ParsedUpload> {
  const w = (worker ??= spawn());
  const id = ++next;
  return new Promise<ParsedUpload>((resolve, reject) => {
    const onMessage = (m: Reply): void => {
      if (m.id !== id) return;
      done();
      if (!m.error) return resolve(m);
      const code = m.error.code;
      // the parsers' own refusals come back as what they were; anything else is the service's fault
      reject(typeof code === 'string' && code.startsWith('WM_ERR_DATASET_') ? new DatasetError(code as Exclude<DatasetErrorCode, 'WM_ERR_DATASET_NOT_FOUND'>, m.error.message) : new Error(`dataset parser: ${m.error.message}`));
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`the dataset parser thread exited (code ${code}) while reading an upload`));
    };
    const done = (): void => {
      w.off('message', onMessage);
      w.off('exit', onExit);
    };
    w.on('message', onMessage);
    w.on('exit', onExit);
    w.postMessage({ id, files: files.map((f) => ({ name: f.name, bytes: f.bytes })), limits, holdout });
  });
}

/**
 * Parses and summarises an upload in the parser thread (after any upload before it).
 * @throws DatasetError for a bad dataset; Error when the thread failed.
 */
export function parseUploadOffThread(files: readonly NamedBytes[], limits: DatasetLimits, holdout: number): Promise<ParsedUpload> {
  const run = queue.then(() => parseOnce(files, limits, holdout));
  queue = run.catch(() => undefined);
  return run;
}
