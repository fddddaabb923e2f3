/**
 * The one registry of format errors: a stable code, the HTTP status the service answers with, and a
 * short title. Readers throw only FormatError for bad input; the HTTP layer maps `code` 1:1 to a
 * problem+json `type` and `status`.
 */
export const FORMAT_ERRORS = {
  WM_ERR_FORMAT_UNKNOWN: { status: 415, title: 'Unrecognised model format' },
  WM_ERR_FORMAT_TRUNCATED: { status: 422, title: 'Model file is truncated' },
  WM_ERR_FORMAT_MALFORMED: { status: 422, title: 'Model file is malformed' },
  WM_ERR_FORMAT_UNSUPPORTED_DTYPE: { status: 422, title: 'Unsupported tensor data type' },
  WM_ERR_FORMAT_UNSUPPORTED: { status: 422, title: 'Unsupported format feature' },
  WM_ERR_FORMAT_TOO_LARGE: { status: 413, title: 'Model file exceeds a read limit' },
  WM_ERR_FORMAT_PATH: { status: 422, title: 'Unsafe path in model file' },
  // A pickle that names code to import or an opcode beyond torch's weights-only format: refused unrun.
  WM_ERR_FORMAT_UNSAFE_PICKLE: { status: 422, title: 'Pickle goes beyond weights-only' },
  WM_ERR_FORMAT_MISSING_FILE: { status: 422, title: 'A file the model refers to was not uploaded' },
  // An ONNX graph imported as a trainable network (onnx/importGraph.ts) with an op or a setting our layers cannot express.
  WM_ERR_GRAPH_UNSUPPORTED: { status: 422, title: 'Graph cannot be imported' },
} as const;

export type FormatErrorCode = keyof typeof FORMAT_ERRORS;

export class FormatError extends Error {
  readonly code: FormatErrorCode;
  readonly status: number;
  readonly title: string;

  constructor(code: FormatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FormatError';
    this.code = code;
    this.status = FORMAT_ERRORS[code].status;
    this.title = FORMAT_ERRORS[code].title;
  }
}

export function isFormatError(e: unknown): e is FormatError {
  return e instanceof FormatError;
}

/**
 * Runs a reader and turns anything that is not a FormatError (a RangeError from a DataView, a JSON
 * SyntaxError, a zlib error) into WM_ERR_FORMAT_MALFORMED, so bad input never escapes as a 500.
 */
export function guardRead<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const detail = e instanceof Error ? e.message : String(e);
    throw new FormatError('WM_ERR_FORMAT_MALFORMED', `${what}: could not be read (${detail})`, { cause: e });
  }
}
