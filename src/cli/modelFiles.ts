import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseKey } from '../core/keygen.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
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

/** A key file (--key), every failure naming the file: missing, not JSON (a model given by mistake), not a key. */
export function loadKeyFile(path: string): WatermarkKey {
  if (!existsSync(path)) throw new Error(`Key file not found: ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`Key file ${path} is not JSON (${e instanceof Error ? e.message : String(e)}); expected a weightmark key as written by 'weightmark train'`);
  }
  try {
    return parseKey(json);
  } catch (e) {
    throw new Error(`Key file ${path} is not a weightmark key: ${e instanceof Error ? e.message : String(e)}`);
  }
}
