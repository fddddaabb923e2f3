/**
 * The one registry of coded errors. Each code has an HTTP status, a title, and a problem `type` URI
 * (`/problems/<code>`, served by the API), mapped 1:1, so clients branch on `code` (or `type`).
 * Use cases throw `AppError(code, detail)`; the detail says what was found and what to do instead.
 * The model-format readers' codes (src/formats/errors.ts) and the dataset parsers' (src/data/datasetErrors.ts)
 * are part of it, with the status they chose.
 */
import { FORMAT_ERRORS } from '../formats/errors.js';
import { DATASET_ERRORS } from '../data/datasetErrors.js';

export const ERRORS = {
  WM_ERR_AUTH_MISSING: { status: 401, title: 'Authentication required' },
  WM_ERR_AUTH_INVALID: { status: 401, title: 'Invalid token' },
  WM_ERR_AUTH_EXPIRED: { status: 401, title: 'Token expired' },
  WM_ERR_FORBIDDEN: { status: 403, title: 'Role not allowed' },
  WM_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  WM_ERR_MODEL_NOT_FOUND: { status: 404, title: 'Model not found' },
  WM_ERR_JOB_NOT_FOUND: { status: 404, title: 'Job not found' },
  WM_ERR_RELEASE_NOT_FOUND: { status: 404, title: 'Release not found' },
  WM_ERR_VERIFICATION_NOT_FOUND: { status: 404, title: 'Verification not found' },
  WM_ERR_KEY_NOT_FOUND: { status: 404, title: 'Watermark key not found' },
  WM_ERR_LICENSEE_NOT_FOUND: { status: 404, title: 'Licensee not found' },
  WM_ERR_AUDIT_HEAD_NOT_FOUND: { status: 404, title: 'No signed audit head yet' },
  WM_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  WM_ERR_VALIDATION: { status: 400, title: 'Request does not match the contract' },
  WM_ERR_MALFORMED_JSON: { status: 400, title: 'Malformed JSON body' },
  WM_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  WM_ERR_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  WM_ERR_UPLOAD_MISSING_FILE: { status: 400, title: 'No model file uploaded' },
  WM_ERR_UPLOAD_TOO_LARGE: { status: 413, title: 'Uploaded file too large' },
  WM_ERR_UPLOAD_TOO_MANY_FILES: { status: 413, title: 'Too many uploaded files' },
  WM_ERR_UPLOAD_MALFORMED: { status: 400, title: 'Malformed multipart upload' },
  // refused by Node's HTTP parser before any route runs (answered from the server's 'clientError')
  WM_ERR_MALFORMED_REQUEST: { status: 400, title: 'Malformed HTTP request' },
  WM_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request headers not received in time' },
  WM_ERR_CHUNK_EXTENSIONS_TOO_LARGE: { status: 413, title: 'Chunk extensions too large' },
  WM_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request URL and headers too large' },
  ...FORMAT_ERRORS,
  WM_ERR_KEY_MALFORMED: { status: 422, title: 'Watermark key is malformed' },
  WM_ERR_ARCH_UNKNOWN: { status: 400, title: 'Unknown architecture' },
  ...DATASET_ERRORS,
  WM_ERR_DATASET_MISMATCH: { status: 422, title: 'Dataset does not fit the architecture' },
  WM_ERR_ATTACK_UNFIT: { status: 422, title: 'Attack does not apply to the architecture' },
  WM_ERR_MODEL_HAS_NO_KEY: { status: 409, title: 'Model has no watermark key' },
  WM_ERR_NO_CANDIDATE_KEYS: { status: 409, title: 'No watermark keys to verify against' },
  WM_ERR_JOB_FINISHED: { status: 409, title: 'Job already finished' },
  WM_ERR_RELEASE_NOT_READY: { status: 409, title: 'Release not ready' },
  WM_ERR_PLOT_NOT_FOUND: { status: 404, title: 'Job has no plot' },
  WM_ERR_PLOT_NOT_READY: { status: 409, title: 'Attack job has not succeeded yet' },
  WM_ERR_DOWNLOAD_FORMAT: { status: 400, title: 'Unsupported download format' },
  WM_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  WM_ERR_QUOTA_EXCEEDED: { status: 429, title: 'Daily verification quota used up' },
  WM_ERR_VERIFY_SUBJECT_BUSY: { status: 429, title: 'Too many verifications in flight for this subject' },
  WM_ERR_VERIFY_BUSY: { status: 503, title: 'Verification capacity is full' },
  WM_ERR_SHUTTING_DOWN: { status: 503, title: 'Service is shutting down' },
  WM_ERR_INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** `/problems/model-not-found` for WM_ERR_MODEL_NOT_FOUND. */
export function problemType(code: ErrorCode): string {
  return '/problems/' + code.replace(/^WM_ERR_/, '').toLowerCase().replace(/_/g, '-');
}

export function codeFromProblemSlug(slug: string): ErrorCode | undefined {
  const code = 'WM_ERR_' + slug.toUpperCase().replace(/-/g, '_');
  return isErrorCode(code) ? code : undefined;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(`${code}: ${detail}`);
    this.status = ERRORS[code].status;
  }
}

/**
 * Maps an error thrown by a model-format reader or a dataset parser (`FormatError`, `DatasetError`: a registered `.code`) to its
 * AppError, so a client's bad file is a 4xx and never a 500. Anything else → undefined.
 */
export function fromFormatError(e: unknown): AppError | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && isErrorCode(code)) return new AppError(code, e.message);
  return undefined;
}
