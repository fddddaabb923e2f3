/**
 * File-system helpers for the CLI: a tfjs layers model as a folder (model.json + shards). Reading goes
 * through the same checks as uploads (readTfjs), and each weight group's shards are read into one
 * contiguous buffer so that float32 weights spanning shards are still views, not copies.
 */
import { mkdirSync, openSync, closeSync, fstatSync, readFileSync, writeFileSync } from 'node:fs';
import { readFully } from './files.js';
import { join, resolve, sep } from 'node:path';
import type { ParamSet } from '../core/paramSet.js';
import { architectureNames, type Architecture } from '../core/architectures.js';
import { FormatError } from './errors.js';
import { checkShardPath, parseModelJson, readTfjs, TFJS_MODEL_JSON, writeTfjs } from './tfjs.js';
import { DEFAULT_READ_LIMITS, type ModelFile, type ReadLimits } from './types.js';
import { isPlainObject } from './common.js';

/** Writes `set` as a tfjs layers model into `dir` (created if needed): model.json and group1-shard*.bin. */
export function saveTfjsModel(dir: string, set: ParamSet, arch: Architecture, opts: { shardBytes?: number } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const files = writeTfjs(set, arch, opts);
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
  return files.map((f) => join(dir, f.name));
}

/**
 * Reads the tfjs model in `dir`. The param set's `arch` is the registered architecture named in the
 * model.json's weightmark metadata, when there is one.
 * @throws FormatError as readTfjs, WM_ERR_FORMAT_PATH for a shard path outside `dir`,
 * WM_ERR_FORMAT_MISSING_FILE for a shard that does not exist, TOO_LARGE past maxTotalBytes.
 */
export function loadTfjsModel(dir: string, opts: Partial<ReadLimits> = {}): ParamSet {
  const limits: ReadLimits = { ...DEFAULT_READ_LIMITS, ...opts };
  const root = resolve(dir);
  const jsonBytes = readBounded(join(root, TFJS_MODEL_JSON), limits.maxHeaderBytes, 'model.json');
  const manifest = parseModelJson(jsonBytes, limits);
  const files: ModelFile[] = [{ name: TFJS_MODEL_JSON, bytes: jsonBytes }];
  let total = jsonBytes.length;
  for (const group of manifest.weightsManifest) {
    const paths = group.paths.map((p) => checkShardPath(p, limits));
    const fds: { path: string; fd: number; size: number }[] = [];
    try {
      for (const p of paths) {
        const full = resolve(root, p);
        if (!full.startsWith(root + sep)) throw new FormatError('WM_ERR_FORMAT_PATH', `tfjs: weight file path '${p}' leaves the model folder`);
        let fd: number;
        try {
          fd = openSync(full, 'r');
        } catch {
          throw new FormatError('WM_ERR_FORMAT_MISSING_FILE', `tfjs: weight file '${p}' named in model.json does not exist in ${dir}`);
        }
        fds.push({ path: p, fd, size: fstatSync(fd).size });
      }
      const groupBytes = fds.reduce((a, f) => a + f.size, 0);
      total += groupBytes;
      if (total > limits.maxTotalBytes) {
        throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `tfjs: the model's files hold more than ${limits.maxTotalBytes} bytes, the limit`);
      }
      const buf = new Uint8Array(groupBytes);
      let at = 0;
      for (const f of fds) {
        const view = buf.subarray(at, at + f.size);
        files.push({ name: f.path, bytes: view.subarray(0, readFully(f.fd, view)) });
        at += f.size;
      }
    } finally {
      for (const f of fds) closeSync(f.fd);
    }
  }
  const set = readTfjs(files, limits);
  const meta = (manifest as unknown as { userDefinedMetadata?: unknown }).userDefinedMetadata;
  const wm = isPlainObject(meta) ? meta['weightmark'] : undefined;
  const arch = isPlainObject(wm) ? wm['arch'] : undefined;
  return typeof arch === 'string' && architectureNames().includes(arch) ? { arch, tensors: set.tensors } : set;
}

function readBounded(path: string, max: number, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    throw new FormatError('WM_ERR_FORMAT_MISSING_FILE', `tfjs: ${what} not found at ${path}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > max) throw new FormatError('WM_ERR_FORMAT_TOO_LARGE', `tfjs: ${what} is ${size} bytes; at most ${max} are accepted`);
  } finally {
    closeSync(fd);
  }
  return readFileSync(path);
}
