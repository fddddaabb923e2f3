/** RFC 9457 problem+json responses from the one error registry (src/service/errors.ts). */
import type { Request, Response } from 'express';
import { AppError, ERRORS, problemType, fromFormatError, type ErrorCode } from '../service/errors.js';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance: string;
  requestId: string;
  [extra: string]: unknown;
}

export function problemBody(req: Request, e: AppError): ProblemBody {
  const requestId = String(req.res?.locals.requestId ?? '');
  return {
    type: problemType(e.code),
    title: ERRORS[e.code].title,
    status: e.status,
    detail: e.detail,
    code: e.code,
    instance: `${req.originalUrl.split('?')[0]}#request-${requestId}`,
    requestId,
    ...e.extra,
  };
}

export function sendProblem(req: Request, res: Response, e: AppError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (e.code === 'WM_ERR_AUTH_MISSING' || e.code === 'WM_ERR_AUTH_INVALID' || e.code === 'WM_ERR_AUTH_EXPIRED') {
    res.setHeader('WWW-Authenticate', `Bearer realm="weightmark"${e.code === 'WM_ERR_AUTH_MISSING' ? '' : ', error="invalid_token"'}`);
  }
  if (typeof e.extra.retryAfterSec === 'number') res.setHeader('Retry-After', String(Math.max(1, Math.ceil(e.extra.retryAfterSec))));
  res.status(e.status).type('application/problem+json').send(JSON.stringify(problemBody(req, e)));
}

/**
 * Turns anything thrown into an AppError: our own, a model-format reader's, body-parser's and
 * multer's client errors; the rest is a 500 whose detail hides internals.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const fe = fromFormatError(err);
  if (fe) return fe;
  const e = err as { type?: string; status?: number; code?: string; message?: string; field?: string; limit?: number };
  if (e?.type === 'entity.parse.failed') return new AppError('WM_ERR_MALFORMED_JSON', `the body is not valid JSON (${e.message}); send a JSON object with Content-Type: application/json`);
  if (e?.type === 'entity.too.large') return new AppError('WM_ERR_BODY_TOO_LARGE', `the JSON body exceeds ${e.limit} bytes (WEIGHTMARK_JSON_LIMIT_BYTES)`);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AppError('WM_ERR_UNSUPPORTED_MEDIA_TYPE', String(e.message));
  if (e?.type === 'request.aborted') return new AppError('WM_ERR_UPLOAD_MALFORMED', 'the request was aborted before the body arrived');
  switch (e?.code) {
    case 'LIMIT_FILE_SIZE':
      return new AppError('WM_ERR_UPLOAD_TOO_LARGE', `an uploaded file exceeds the limit (WEIGHTMARK_UPLOAD_MAX_BYTES); field '${e.field}'`);
    case 'LIMIT_FILE_COUNT':
      return new AppError('WM_ERR_UPLOAD_TOO_MANY_FILES', 'too many files in one upload (WEIGHTMARK_UPLOAD_MAX_FILES)');
    case 'LIMIT_FIELD_COUNT': case 'LIMIT_FIELD_KEY': case 'LIMIT_FIELD_VALUE': case 'LIMIT_PART_COUNT':
      return new AppError('WM_ERR_UPLOAD_MALFORMED', `the multipart body exceeds a limit (${e.code})`);
    case 'LIMIT_UNEXPECTED_FILE':
      return new AppError('WM_ERR_UPLOAD_MALFORMED', `unexpected file field '${e.field}'; send the model as parts named 'file' (and the key as 'key')`);
  }
  if (typeof e?.message === 'string' && /Multipart: Boundary not found|Unexpected end of form|Malformed part header|Unexpected end of multipart/i.test(e.message)) {
    return new AppError('WM_ERR_UPLOAD_MALFORMED', `the multipart body is malformed (${e.message})`);
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new AppError('WM_ERR_VALIDATION', String(e.message ?? 'bad request'));
  return new AppError('WM_ERR_INTERNAL', 'an internal error occurred; the request id identifies it in the service logs');
}
