/**
 * Multipart uploads through multer: small files in memory, large ones spilled to `<dataDir>/tmp/uploads`
 * (uploadStorage.ts), size and count limits, and memory and temp files given back when the request
 * ends — on success, on error and on abort.
 */
import { readModelFiles } from '../formats/files.js';
import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import multer from 'multer';
import type { ServiceConfig } from '../config/env.js';
import type { ModelFileIn } from '../service/ports.js';
import { spillingStorage, type SpillingStorage, type StoredUpload } from './uploadStorage.js';
import { SharedBufferPool } from './sharedBufferPool.js';

/** Files up to 4 MiB stay in memory, 64 MiB at most across all requests of the process; the rest go to disk. */
const MEMORY_PER_FILE = 4 * 1024 * 1024;
const MEMORY_TOTAL = 64 * 1024 * 1024;
const storages = new Map<string, SpillingStorage>();

/** One storage per upload directory, so the memory bound holds across every route of the process. */
export function uploadStorage(config: ServiceConfig): SpillingStorage {
  const dir = uploadDir(config);
  let s = storages.get(dir);
  if (!s) {
    s = spillingStorage({ dir, perFileBytes: MEMORY_PER_FILE, totalBytes: MEMORY_TOTAL });
    storages.set(dir, s);
  }
  return s;
}

/**
 * Shared buffers for suspects under verification (only there: a registered model's tensors stay cached
 * after the request, so its buffer is never given back). Pooled like the in-memory uploads they hold.
 */
export const suspectBuffers = new SharedBufferPool({ maxBuffer: MEMORY_PER_FILE, maxPooled: MEMORY_TOTAL, granule: 256 * 1024 });

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
  const storage = uploadStorage(config);
  const upload = multer({
    storage,
    limits: { fileSize: config.uploadMaxFileBytes, files: fields.maxFiles, fields: 20, fieldSize: 1024 * 1024, parts: fields.maxFiles + 20, headerPairs: 200 },
  }).fields(fields.files.map((name) => ({ name, maxCount: name === 'file' ? fields.maxFiles : 1 })));
  return (req: Request, res: Response, next: NextFunction): void => {
    const cleanup = (): void => {
      for (const f of filesOf(req)) storage.discard(f as unknown as StoredUpload);
    };
    res.on('close', cleanup);
    upload(req, res, (err?: unknown) => {
      if (err) cleanup();
      next(err);
    });
  };
}

/** Gives back the request's uploads now (before an error response goes out). */
export function removeUploads(req: Request, config: ServiceConfig): void {
  const storage = uploadStorage(config);
  for (const f of filesOf(req)) storage.discard(f as unknown as StoredUpload);
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
export function readParts(req: Request, field: string, config: ServiceConfig, pool?: SharedBufferPool): ModelFileIn[] {
  const f = req.files && !Array.isArray(req.files) ? (req.files[field] ?? []) : [];
  const storage = uploadStorage(config);
  try {
    return readModelFiles(f.map((x) => {
      const name = path.basename(x.originalname || x.fieldname);
      const stored = x as unknown as StoredUpload;
      return stored.chunks ? { name, chunks: stored.chunks } : { name, path: x.path };
    }), {}, pool ? (bytes) => pool.take(bytes) : undefined);
  } finally {
    for (const x of f) storage.discard(x as unknown as StoredUpload);
  }
}
