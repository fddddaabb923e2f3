/**
 * Model files on disk, content-addressed: `<dataDir>/models/<aa>/<sha256>`. Writes are atomic
 * (temp file, fsync, rename), so a crash leaves either the whole file or a `.tmp-*` that the next
 * start removes; a file's name is its digest, so a half-written file can never pass as a model.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { writeFileAtomic, removeTempFiles } from '../crypto/fsutil.js';
import type { FileRef } from './types.js';

export class BlobStore {
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }

  static sha256(bytes: Uint8Array): string {
    return crypto.createHash('sha256').update(bytes).digest('hex');
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: '${sha256}'`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Stores bytes under their digest (a no-op when already present). */
  put(name: string, bytes: Uint8Array): FileRef {
    const sha256 = BlobStore.sha256(bytes);
    const file = this.pathOf(sha256);
    if (!fs.existsSync(file)) writeFileAtomic(file, bytes, 0o640);
    return { name, sha256, size: bytes.length };
  }

  /** @throws Error when the file is missing or its content no longer matches its digest. */
  get(ref: FileRef): Uint8Array {
    const bytes = fs.readFileSync(this.pathOf(ref.sha256));
    if (BlobStore.sha256(bytes) !== ref.sha256) throw new Error(`model file ${ref.sha256} is corrupt on disk`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  has(sha256: string): boolean {
    return fs.existsSync(this.pathOf(sha256));
  }

  /** Removes `.tmp-*` leftovers of interrupted writes. Returns how many were removed. */
  cleanTemp(): number {
    let n = removeTempFiles(this.root);
    for (const d of fs.readdirSync(this.root)) {
      const p = path.join(this.root, d);
      if (fs.statSync(p).isDirectory()) n += removeTempFiles(p);
    }
    return n;
  }

  /** Every stored file, for crash-consistency checks: [path, digest-matches]. */
  audit(): { file: string; ok: boolean }[] {
    const out: { file: string; ok: boolean }[] = [];
    for (const d of fs.readdirSync(this.root)) {
      const p = path.join(this.root, d);
      if (!fs.statSync(p).isDirectory()) continue;
      for (const f of fs.readdirSync(p)) {
        const bytes = fs.readFileSync(path.join(p, f));
        out.push({ file: path.join(p, f), ok: BlobStore.sha256(bytes) === f });
      }
    }
    return out;
  }
}
