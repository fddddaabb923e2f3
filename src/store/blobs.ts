/**
 * Model files, content-addressed: a file's name is its SHA-256, so a half-written or altered file can
 * never pass as a model. Two engines behind one interface: files under the data dir (the embedded
 * default) and an S3-compatible bucket (src/store/s3Blobs.ts, loaded only when configured).
 * Every read checks the digest.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic, removeTempFiles, fsyncDir } from '../crypto/fsutil.js';
import type { FileRef } from './types.js';
import type { S3Settings } from '../config/env.js';

export interface BlobStore {
  readonly engine: 'files' | 's3';
  /** Stores bytes under their digest (a no-op when already present). */
  put(name: string, bytes: Uint8Array): Promise<FileRef>;
  /** Stores a file on disk under its digest, streamed (never read whole into memory). */
  putFile(name: string, file: string): Promise<FileRef>;
  /** @throws BlobIntegrityError when the blob is missing or its content no longer matches its digest. */
  get(ref: FileRef): Promise<Uint8Array>;
  has(sha256: string): Promise<boolean>;
  /** Removes leftovers of interrupted writes; returns how many. */
  removeLeftovers(): Promise<number>;
  close(): Promise<void>;
}

/** A stored model file is missing or does not match its digest: the store was damaged, not the request. */
export class BlobIntegrityError extends Error {
  override name = 'BlobIntegrityError';
}

export function sha256Of(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** The digest of a file, streamed. */
export async function sha256OfFile(file: string): Promise<{ sha256: string; size: number }> {
  const h = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

export function assertDigest(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: '${sha256}'`);
}

/** `<root>/<aa>/<sha256>`; writes are atomic (temp file, fsync, rename), so a crash leaves a `.tmp-*` at worst. */
export class FileBlobStore implements BlobStore {
  readonly engine = 'files';
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }

  pathOf(sha256: string): string {
    assertDigest(sha256);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  async put(name: string, bytes: Uint8Array): Promise<FileRef> {
    const sha256 = sha256Of(bytes);
    const file = this.pathOf(sha256);
    if (!fs.existsSync(file)) writeFileAtomic(file, bytes, 0o640);
    return { name, sha256, size: bytes.length };
  }

  async putFile(name: string, src: string): Promise<FileRef> {
    const dir = path.join(this.root, '.incoming');
    fs.mkdirSync(dir, { recursive: true });
    const tmp = path.join(dir, `.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    const h = crypto.createHash('sha256');
    let size = 0;
    try {
      // one pass: hash while copying, then rename into the digest's place
      await pipeline(
        fs.createReadStream(src),
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const c of chunks) {
            h.update(c);
            size += c.length;
            yield c;
          }
        },
        fs.createWriteStream(tmp, { mode: 0o640, flush: true }),
      );
      const sha256 = h.digest('hex');
      const file = this.pathOf(sha256);
      if (fs.existsSync(file)) {
        fs.rmSync(tmp, { force: true });
      } else {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.renameSync(tmp, file);
        fsyncDir(path.dirname(file));
      }
      return { name, sha256, size };
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  }

  async get(ref: FileRef): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(this.pathOf(ref.sha256));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobIntegrityError(`model file ${ref.sha256} is missing from ${this.root}`);
      throw e;
    }
    if (sha256Of(bytes) !== ref.sha256) throw new BlobIntegrityError(`model file ${ref.sha256} is corrupt on disk`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  async has(sha256: string): Promise<boolean> {
    return fs.existsSync(this.pathOf(sha256));
  }

  async removeLeftovers(): Promise<number> {
    let n = 0;
    for (const d of fs.readdirSync(this.root)) {
      const p = path.join(this.root, d);
      if (fs.statSync(p).isDirectory()) n += removeTempFiles(p);
    }
    return n + removeTempFiles(this.root);
  }

  async close(): Promise<void> {}

  /** Every stored file, for crash-consistency checks and migration: [path, digest, digest-matches]. */
  list(): { file: string; sha256: string }[] {
    const out: { file: string; sha256: string }[] = [];
    for (const d of fs.readdirSync(this.root)) {
      const p = path.join(this.root, d);
      if (!/^[0-9a-f]{2}$/.test(d) || !fs.statSync(p).isDirectory()) continue;
      for (const f of fs.readdirSync(p)) if (/^[0-9a-f]{64}$/.test(f)) out.push({ file: path.join(p, f), sha256: f });
    }
    return out;
  }

  audit(): { file: string; ok: boolean }[] {
    return this.list().map(({ file, sha256 }) => ({ file, ok: sha256Of(fs.readFileSync(file)) === sha256 }));
  }
}

/**
 * The blob store the configuration asks for: S3 when a bucket is set (the SDK is imported only then,
 * so the embedded default never loads it), else files under `dir`.
 */
export async function openBlobStore(o: { s3?: S3Settings; dir: string }): Promise<BlobStore> {
  if (o.s3) {
    const { S3BlobStore } = await import('./s3Blobs.js');
    return S3BlobStore.open(o.s3);
  }
  return new FileBlobStore(o.dir);
}
