import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ModelFile } from '../formats/types.js';

/** Reads a model path: a single file, or every regular file of a folder (tfjs: model.json + shards). */
export function readModelPath(path: string): ModelFile[] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new Error(`No such file or folder: ${path}`);
  if (st.isFile()) return [{ name: basename(path), bytes: readFileSync(path) }];
  return readdirSync(path)
    .filter((f) => statSync(join(path, f)).isFile() && !f.startsWith('key') && f !== 'training.json')
    .map((f) => ({ name: f, bytes: readFileSync(join(path, f)) }));
}
