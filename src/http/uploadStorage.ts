/**
 * A multer storage engine that keeps small uploads in memory and spills large ones to disk. A LeNet5
 * suspect (1.7 MB) written to a temp file, read back and unlinked cost about a third of a verification's
 * CPU on the request thread; kept in memory it costs one copy into the shared buffer. Memory is bounded
 * twice: per file (past `perFileBytes` the file goes to disk) and per process (past `totalBytes` held by
 * all requests together, new files go to disk), so many parallel uploads cannot exhaust RAM.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';

export interface SpillOptions {
  readonly dir: string;
  readonly perFileBytes: number;
  readonly totalBytes: number;
}

/** What the engine adds to multer's file object: `path` for a spilled file, `chunks` for one in memory. */
export interface StoredUpload {
  path?: string;
  chunks?: Buffer[];
  size: number;
}

interface Held extends StoredUpload {
  /** Set once the memory it held has been given back. */
  released?: boolean;
}

export interface SpillingStorage extends StorageEngine {
  /** Bytes currently held in memory by all requests. */
  heldBytes(): number;
  /** Gives back a file's memory or removes its temp file (idempotent). */
  discard(file: StoredUpload): void;
}

export function spillingStorage(o: SpillOptions): SpillingStorage {
  let held = 0;
  const release = (f: Held): void => {
    if (f.chunks && !f.released) {
      held -= f.chunks.reduce((a, c) => a + c.length, 0);
      f.released = true;
    }
    delete f.chunks;
  };
  const discard = (file: StoredUpload): void => {
    release(file as Held);
    if (typeof file.path === 'string') fs.rm(file.path, { force: true }, () => undefined);
  };
  return {
    heldBytes: () => held,
    discard,
    _handleFile(_req: Request, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
      const stream = file.stream;
      let chunks: Buffer[] | null = [];
      let inMemory = 0;
      let size = 0;
      let out: fs.WriteStream | undefined;
      let target: string | undefined;
      let failed = false;
      const giveBack = (): void => {
        held -= inMemory;
        inMemory = 0;
        chunks = null;
      };
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        giveBack();
        stream.unpipe?.();
        stream.resume();
        if (out) out.destroy();
        if (target) fs.rm(target, { force: true }, () => undefined);
        cb(err);
      };
      const spill = (): void => {
        target = path.join(o.dir, randomUUID());
        out = fs.createWriteStream(target, { mode: 0o600 });
        out.on('error', fail);
        out.on('drain', () => stream.resume());
        for (const c of chunks!) out.write(c);
        giveBack();
      };
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (!out && size <= o.perFileBytes && held + chunk.length <= o.totalBytes) {
          chunks!.push(chunk);
          inMemory += chunk.length;
          held += chunk.length;
          return;
        }
        if (!out) spill();
        if (!out!.write(chunk)) stream.pause();
      });
      stream.on('error', fail);
      stream.on('end', () => {
        if (failed) return;
        if (out) {
          out.end(() => {
            if (!failed) cb(null, { path: target, size } as Partial<Express.Multer.File>);
          });
          return;
        }
        const info: Held = { chunks: chunks!, size };
        // multer copies the fields onto its file object; the memory is released through that object.
        cb(null, info as unknown as Partial<Express.Multer.File>);
      });
    },
    _removeFile(_req: Request, file: Express.Multer.File, cb: (error: Error | null) => void): void {
      discard(file as unknown as StoredUpload);
      cb(null);
    },
  };
}
