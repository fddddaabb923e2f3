import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

/** Writes a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o644): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  }
}

/** Removes leftovers of interrupted atomic writes (`.tmp-*`) in a directory. Returns how many. */
export function removeTempFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.tmp-')) {
      fs.rmSync(path.join(dir, name), { force: true, recursive: true });
      n++;
    }
  }
  return n;
}
