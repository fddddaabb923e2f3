/**
 * Multipart uploads through multer: disk storage in `<dataDir>/tmp/uploads`, size and count limits,
 * and the temp files removed when the request ends — on success, on error and on abort.
 */
import { readModelFiles } from '../formats/files.js';
import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import type { ServiceConfig } from '../config/env.js';
import type { ModelFileIn } from '../service/ports.js';

export function uploadDir(config: ServiceConfig): string {
  return path.join(config.dataDir, 'tmp', 'uploads');
}

/** Removes temp uploads left by a crash (called at start). */
export function cleanUploadDir(config: ServiceConfig): number {
  const dir = uploadDir(config);
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    fs.rmSync(path.join(dir, f), { force: true, recursive: true });
    n++;
  }
  return n;
}

export function multipart(config: ServiceConfig, fields: { files: string[]; maxFiles: number }) {
  const dir = uploadDir(config);
  fs.mkdirSync(dir, { recursive: true });
  const upload = multer({
    dest: dir,
    limits: { fileSize: config.uploadMaxFileBytes, files: fields.maxFiles, fields: 20, fieldSize: 1024 * 1024, parts: fields.maxFiles + 20, headerPairs: 200 },
  }).fields(fields.files.map((name) => ({ name, maxCount: name === 'file' ? fields.maxFiles : 1 })));
  return (req: Request, res: Response, next: NextFunction): void => {
    const cleanup = (): void => {
      const all = filesOf(req);
      for (const f of all) if (typeof f.path === 'string') fs.rm(f.path, { force: true }, () => undefined);
    };
    res.on('close', cleanup);
    upload(req, res, (err?: unknown) => {
      if (err) cleanup();
      next(err);
    });
  };
}

/** Removes the request's temp uploads now (before an error response goes out). */
export function removeUploads(req: Request): void {
  for (const f of filesOf(req)) if (typeof f.path === 'string') fs.rmSync(f.path, { force: true });
}

export function filesOf(req: Request): Express.Multer.File[] {
  const f = req.files;
  if (!f) return [];
  return Array.isArray(f) ? f : Object.values(f).flat();
}

/**
 * Reads the uploaded parts named `field` into ONE buffer, each part 8-byte aligned, so readers return
 * zero-copy views even across tfjs shards (separate buffers cost 2x the model in memory), then removes
 * the temp files.
 */
export function readParts(req: Request, field: string): ModelFileIn[] {
  const f = req.files && !Array.isArray(req.files) ? (req.files[field] ?? []) : [];
  try {
    return readModelFiles(f.map((x) => ({ name: path.basename(x.originalname || x.fieldname), path: x.path })));
  } finally {
    for (const x of f) fs.rmSync(x.path, { force: true });
  }
}
