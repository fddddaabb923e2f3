/**
 * The coded errors of uploaded datasets, registered with the service's errors (src/service/errors.ts)
 * as the format readers' are: a stable code, the HTTP status and a title. The parsers throw only
 * DatasetError for bad input, so a client's bad dataset is always a 4xx problem+json, never a 500.
 */
import { FormatError } from '../formats/errors.js';

export const DATASET_ERRORS = {
  WM_ERR_DATASET_UNKNOWN_FORMAT: { status: 415, title: 'Unrecognised dataset format' },
  WM_ERR_DATASET_MALFORMED: { status: 422, title: 'Dataset is malformed' },
  WM_ERR_DATASET_PATH: { status: 422, title: 'Unsafe path in dataset archive' },
  WM_ERR_DATASET_LABELS: { status: 422, title: 'Dataset labels are invalid' },
  WM_ERR_DATASET_CLASSES: { status: 422, title: 'Dataset has too few classes or samples' },
  WM_ERR_DATASET_TOO_LARGE: { status: 413, title: 'Dataset exceeds a size limit' },
  WM_ERR_DATASET_NOT_FOUND: { status: 404, title: 'Dataset not found' },
} as const;

export type DatasetErrorCode = keyof typeof DATASET_ERRORS;

export class DatasetError extends Error {
  override name = 'DatasetError';
  readonly status: number;
  constructor(readonly code: Exclude<DatasetErrorCode, 'WM_ERR_DATASET_NOT_FOUND'>, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = DATASET_ERRORS[code].status;
  }
}

/**
 * Runs a dataset reader step, turning a FormatError of the shared readers (zip, npy, PNG) into the
 * dataset code of the same kind, and anything else unexpected (a RangeError from a DataView, a zlib
 * error) into WM_ERR_DATASET_MALFORMED; `what` prefixes the message (the file or entry at fault).
 */
export function guardDataset<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const detail = e instanceof Error ? e.message : String(e);
    const code = e instanceof FormatError ? (e.code === 'WM_ERR_FORMAT_TOO_LARGE' ? 'WM_ERR_DATASET_TOO_LARGE' : e.code === 'WM_ERR_FORMAT_PATH' ? 'WM_ERR_DATASET_PATH' : 'WM_ERR_DATASET_MALFORMED') : 'WM_ERR_DATASET_MALFORMED';
    throw new DatasetError(code, `${what}: ${detail}`, { cause: e });
  }
}
