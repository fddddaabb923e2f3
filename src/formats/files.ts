/**
 * Reading model files from disk for readModel. All files go into ONE buffer, each starting 8-byte
 * aligned, sized from fstat and bounded by maxTotalBytes before anything is allocated; each ModelFile is
 * a view on it. tfjs shards are multiples of 4 MiB except the last, so consecutive shards stay back to
 * back and a weight spanning them is a view too (readTfjs sees contiguous shards): the param set adds no
 * copy of the weights. Use it for uploads, whether multer's storage kept them on disk or in memory chunks.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FormatError } from './errors.js';
import { DEFAULT_READ_LIMITS, type ModelFile, type ReadLimits } from './types.js';

/** Reads a file from its start into `view` until full or end of file; returns the bytes read. */
export function readFully(fd: number, view: Uint8Array): number {
  let got = 0;
  while (got < view.length) {
    const n = readSync(fd, view, got, view.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Reads the files at `entries[i].path`, naming each `entries[i].name` (the name the model refers to,
 * e.g. the uploaded file name). @throws FormatError WM_ERR_FORMAT_TOO_LARGE past maxTotalBytes;
 * Node's own errors for files that cannot be opened (the caller's paths, not untrusted input).
 */
export function readModelFiles(
  entries: readonly ({ name: string; path: string } | { name: string; chunks: readonly Uint8Array[] })[], opts: Partial<ReadLimits> = {},
  /** Where the shared buffer comes from (a pool, for verifications); it may be larger than asked. */
  allocate: (bytes: number) => SharedArrayBuffer = (bytes) => new SharedArrayBuffer(Math.max(1, bytes)),
): ModelFile[] {
  const limits: ReadLimits = { ...DEFAULT_READ_LIMITS, ...opts };
  const opened: { name: string; fd: number; size: number; chunks?: readonly Uint8Array[] }[] = [];
  try {
    let total = 0;
    const align8 = (n: number) => Math.ceil(n / 8) * 8;
    for (const e of entries) {
      if ('chunks' in e) {
        const size = e.chunks.reduce((a, c) => a + c.length, 0);
        opened.push({ name: e.name, fd: -1, size, chunks: e.chunks });
        total = align8(total) + size;
        if (total > limits.maxTotalBytes) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `The model files hold more than ${limits.maxTotalBytes} bytes; at most ${limits.maxTotalBytes} are accepted`);
        continue;
      }
      const fd = openSync(e.path, 'r');
      opened.push({ name: e.name, fd, size: 0 });
      const size = fstatSync(fd).size;
      opened[opened.length - 1] = { name: e.name, fd, size };
      total = align8(total) + size;
      if (total > limits.maxTotalBytes) {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `The model files hold more than ${limits.maxTotalBytes} bytes; at most ${limits.maxTotalBytes} are accepted`);
      }
    }
    // Shared memory: the param set's tensors are views on it, and a verification worker thread reads
    // them without a structured-clone copy (a copy made one 992 MiB upload cost 2x its size in RSS).
    const buf = new Uint8Array(allocate(total), 0, total);
    const files: ModelFile[] = [];
    let at = 0;
    for (const f of opened) {
      at = align8(at);
      const view = buf.subarray(at, at + f.size);
      if (f.chunks) {
        let o = 0;
        for (const c of f.chunks) {
          view.set(c, o);
          o += c.length;
        }
        files.push({ name: f.name, bytes: view });
      } else {
        files.push({ name: f.name, bytes: view.subarray(0, readFully(f.fd, view)) });
      }
      at += f.size;
    }
    return files;
  } finally {
    for (const f of opened) if (f.fd >= 0) closeSync(f.fd);
  }
}
